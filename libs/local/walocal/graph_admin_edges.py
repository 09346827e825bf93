"""The fake's account edges: the code exchange, app subscription, number registration, a
number's details and business profile, and the sandbox's Embedded Signup stand-in; plus the
answers every edge shares (token check, owner check, queued failure)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from wacommon.providers.meta.admin import VERTICALS
from walocal.graph_admin_state import FAILURES, GraphAdminState, graph_error

PROFILE_LIMITS = {"about": 139, "address": 256, "description": 512, "email": 128}


def state_of(request: Request) -> GraphAdminState:
    """The state the app was made for."""
    state: GraphAdminState = request.app.state.graph_admin
    return state


def answer(pair: tuple[int, dict[str, Any]]) -> Response:
    """A Graph answer `(status, body)` as a response."""
    return JSONResponse(pair[1], status_code=pair[0])


def _unauthorized() -> Response:
    return answer(graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token"))


def _denied(object_id: str) -> Response:
    return answer(
        graph_error(
            400,
            100,
            f"Unsupported request - Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation",
            error_subcode=33,
        )
    )


def check(edge: str, request: Request, waba_id: str | None) -> Response | None:
    """The error answer when the token does not reach `waba_id` or a failure is queued."""
    state = state_of(request)
    owner = state.waba_of_token(request.headers.get("authorization"))
    if owner is None:
        return _unauthorized()
    if waba_id is None or owner != waba_id:
        return _denied(waba_id or "?")
    kind = state.take_failure(edge)
    return answer(FAILURES[kind]) if kind else None


async def body_of(request: Request) -> Any:
    """The JSON body, or None when there is none."""
    try:
        return await request.json()
    except ValueError:
        return None


def _phone_waba(state: GraphAdminState, phone_id: str) -> str | None:
    phone = state.phones.get(phone_id)
    return phone.waba_id if phone else None


async def exchange(request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    q = request.query_params
    known = q.get("client_id") == state.app_id and q.get("client_secret") == state.app_secret
    if not known and not (state.accept_any_app and q.get("client_id")):
        return answer(graph_error(400, 1, "Error validating client secret."))
    kind = state.take_failure("oauth")
    if kind:
        return answer(FAILURES[kind])
    grant = state.redeem(q.get("code") or "")
    if grant is None:
        return answer(FAILURES["bad_code"])
    return JSONResponse({state.token_key: grant[0], "token_type": "bearer"})


async def subscribe(waba_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, await body_of(request))
    failed = check("subscribed_apps", request, waba_id if waba_id in state.wabas else None)
    if failed:
        return failed
    state.wabas[waba_id].subscribed_apps.add(state.app_id)
    return JSONResponse({"success": True})


async def register(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    body = await body_of(request)
    state.record(request, body)
    failed = check("register", request, _phone_waba(state, phone_id))
    if failed:
        return failed
    pin = body.get("pin") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return answer(graph_error(400, 100, "(#100) messaging_product must be whatsapp"))
    if not isinstance(pin, str) or not re.fullmatch(r"\d{6}", pin):
        return answer(graph_error(400, 100, "(#100) pin must be 6 digits"))
    phone = state.phones[phone_id]
    if phone.pin is not None and phone.pin != pin:
        return answer(FAILURES["pin_mismatch"])
    phone.pin = pin
    return JSONResponse({"success": True})


async def phone_info(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    failed = check("phone", request, _phone_waba(state, phone_id))
    if failed:
        return failed
    phone = state.phones[phone_id]
    return JSONResponse(
        {
            "id": phone_id,
            "display_phone_number": phone.display_phone_number,
            "verified_name": phone.verified_name,
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
        }
    )


async def sandbox_signup(request: Request) -> Response:
    state = state_of(request)
    body = await body_of(request)
    given = body if isinstance(body, dict) else {}
    state.record(request, given)
    waba_id, phone_id, business_id = (_graph_number() for _ in range(3))
    display = str(given.get("display_phone_number") or f"55119{secrets.randbelow(10**8):08d}")
    if not re.fullmatch(r"\d{8,15}", display):
        return answer(graph_error(400, 100, "(#100) display_phone_number must be 8-15 digits"))
    name = str(given.get("verified_name") or "Minha Empresa")[:100]
    state.add_waba(waba_id, {phone_id: display}, verified_name=name)
    code = "sandbox-code-" + secrets.token_urlsafe(16)
    state.add_code(code, "sandbox-token-" + secrets.token_urlsafe(24), waba_id)
    return JSONResponse(
        {
            "code": code,
            "waba_id": waba_id,
            "phone_number_id": phone_id,
            "business_id": business_id,
        }
    )


async def get_profile(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    failed = check("whatsapp_business_profile", request, _phone_waba(state, phone_id))
    if failed:
        return failed
    wanted = (request.query_params.get("fields") or "").split(",")
    profile = state.phones[phone_id].profile
    shown = {k: v for k, v in profile.items() if k in wanted}
    return JSONResponse({"data": [{**shown, "messaging_product": "whatsapp"}]})


async def update_profile(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    body = await body_of(request)
    state.record(request, body)
    failed = check("whatsapp_business_profile", request, _phone_waba(state, phone_id))
    if failed:
        return failed
    problem = _profile_problem(body)
    if problem:
        return answer(
            graph_error(400, 100, "(#100) Invalid parameter", error_data={"details": problem})
        )
    fields = {k: v for k, v in body.items() if k != "messaging_product"}
    if "profile_picture_handle" in fields:
        handle = fields.pop("profile_picture_handle")
        fields["profile_picture_url"] = f"https://pps.whatsapp.net/fake/{handle}"
    state.phones[phone_id].profile.update(fields)
    return JSONResponse({"success": True})


def _graph_number() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def _profile_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    for key, limit in PROFILE_LIMITS.items():
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= limit):
            return f"{key} must be 1 to {limit} characters"
    websites = body.get("websites")
    if websites is not None and (not isinstance(websites, list) or len(websites) > 2):
        return "at most 2 websites"
    if "vertical" in body and body["vertical"] not in VERTICALS:
        return "unknown vertical"
    return None
