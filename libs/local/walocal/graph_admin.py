"""A fake of the Graph account-management endpoints (Embedded Signup, templates, profile).

In tests: `state = GraphAdminState(app_id="1", app_secret="s")`, add a WABA and numbers,
`state.add_code("CODE", "TOKEN", waba_id)`, then
`with serve_in_thread(make_graph_admin_app(state)) as srv:` and point the client at
`srv.url`. `combined_graph_app(state, GraphState())` also serves the send/media fake
of `walocal.graph` on the same port. Codes are single use, like Meta's.

`POST /_sandbox/embedded_signup` plays the part of Facebook's Embedded Signup popup for
the offline sandbox (`make run`): it creates a WABA with one number and answers what the
popup hands the page, `{code, waba_id, phone_number_id, business_id}`. Nothing on the
real Graph answers there.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from wacommon.providers.meta.admin import VERTICALS
from walocal.graph import GraphState, make_graph_app, parse_args

SANDBOX_SIGNUP = "/_sandbox/embedded_signup"

PROFILE_LIMITS = {"about": 139, "address": 256, "description": 512, "email": 128}
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
_ADMIN_EDGES = re.compile(
    r"^/[^/]+/(oauth/access_token|\d+/(subscribed_apps|register|"
    r"message_templates|whatsapp_business_profile))$"
)
_OBJECT = re.compile(r"^/[^/]+/(\d+)$")


def graph_error(status: int, code: int, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    """A Graph error answer `(status, body)`."""
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, **extra}
    err["fbtrace_id"] = uuid.uuid4().hex[:20]
    return status, {"error": err}


FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "bad_code": graph_error(400, 100, "Invalid verification code format.", error_subcode=36008),
    "token_expired": graph_error(
        401, 190, "Error validating access token: Session has expired", error_subcode=463
    ),
    "permission": graph_error(403, 200, "(#200) Permissions error"),
    "rate_limit": graph_error(400, 80007, "(#80007) Rate limit issues"),
    "pin_mismatch": graph_error(400, 133005, "(#133005) Two step verification PIN Mismatch"),
    "server_error": graph_error(500, 2, "(#2) Service temporarily unavailable"),
}


@dataclass
class Phone:
    """A business number under a WABA."""

    display_phone_number: str
    verified_name: str
    waba_id: str
    pin: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class Waba:
    """A WhatsApp Business Account: subscribed apps and templates."""

    subscribed_apps: set[str] = field(default_factory=set)
    templates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AdminRecord:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    json: Any


@dataclass
class GraphAdminState:
    """The app, its one-time codes, issued tokens, WABAs, numbers and a failure queue."""

    app_id: str = "1234567890"
    app_secret: str = "app-secret"  # noqa: S105 - a fake app's
    # the key the code exchange answers with ("access_token"; pywa documents "business_token")
    token_key: str = "access_token"  # noqa: S105 - a key name
    # the offline sandbox knows no app: any client_id / client_secret may exchange a code
    accept_any_app: bool = False
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    wabas: dict[str, Waba] = field(default_factory=dict)
    phones: dict[str, Phone] = field(default_factory=dict)
    requests: list[AdminRecord] = field(default_factory=list)
    _failures: dict[str, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_waba(self, waba_id: str, phones: dict[str, str], verified_name: str = "Loja") -> None:
        """A WABA with numbers `{phone_number_id: display_phone_number}`."""
        with self._lock:
            self.wabas.setdefault(waba_id, Waba())
            for phone_id, display in phones.items():
                self.phones[phone_id] = Phone(display, verified_name, waba_id)

    def add_code(self, code: str, token: str, waba_id: str) -> None:
        """A one-time code that exchanges for `token`, which reaches `waba_id` and its numbers."""
        with self._lock:
            self.codes[code] = (token, waba_id)

    def add_token(self, token: str, waba_id: str) -> None:
        """A business token already issued for `waba_id`."""
        with self._lock:
            self.tokens[token] = waba_id

    def fail_next(self, edge: str, kind: str, n: int = 1) -> None:
        """The next `n` calls to `edge` (oauth, subscribed_apps, register, phone,
        message_templates, whatsapp_business_profile) fail with FAILURES[kind]."""
        with self._lock:
            self._failures.setdefault(edge, deque()).extend([kind] * n)

    def take_failure(self, edge: str) -> str | None:
        with self._lock:
            queue = self._failures.get(edge)
            return queue.popleft() if queue else None

    def calls(self, suffix: str) -> list[AdminRecord]:
        """Recorded requests whose path ends with `suffix`."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def record(self, request: Request, body: Any) -> None:
        rec = AdminRecord(
            request.method,
            request.url.path,
            dict(request.query_params),
            request.headers.get("authorization"),
            body,
        )
        with self._lock:
            self.requests.append(rec)

    def waba_of_token(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            return self.tokens.get(authorization.removeprefix("Bearer "))


def make_graph_admin_app(state: GraphAdminState) -> FastAPI:
    """The fake account-management endpoints as an ASGI app bound to `state`."""
    app = FastAPI(title="fake-graph-admin")

    def answer(pair: tuple[int, dict[str, Any]]) -> Response:
        return JSONResponse(pair[1], status_code=pair[0])

    def unauthorized() -> Response:
        return answer(
            graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        )

    def denied(object_id: str) -> Response:
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
        owner = state.waba_of_token(request.headers.get("authorization"))
        if owner is None:
            return unauthorized()
        if waba_id is None or owner != waba_id:
            return denied(waba_id or "?")
        kind = state.take_failure(edge)
        return answer(FAILURES[kind]) if kind else None

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    def phone_waba(phone_id: str) -> str | None:
        phone = state.phones.get(phone_id)
        return phone.waba_id if phone else None

    @app.get("/{version}/oauth/access_token")
    async def exchange(request: Request) -> Response:
        state.record(request, None)
        q = request.query_params
        known = q.get("client_id") == state.app_id and q.get("client_secret") == state.app_secret
        if not known and not (state.accept_any_app and q.get("client_id")):
            return answer(graph_error(400, 1, "Error validating client secret."))
        kind = state.take_failure("oauth")
        if kind:
            return answer(FAILURES[kind])
        with state._lock:
            grant = state.codes.pop(q.get("code") or "", None)
            if grant:
                state.tokens[grant[0]] = grant[1]
        if grant is None:
            return answer(FAILURES["bad_code"])
        return JSONResponse({state.token_key: grant[0], "token_type": "bearer"})

    @app.post("/{version}/{waba_id}/subscribed_apps")
    async def subscribe(waba_id: str, request: Request) -> Response:
        state.record(request, await body_of(request))
        failed = check("subscribed_apps", request, waba_id if waba_id in state.wabas else None)
        if failed:
            return failed
        state.wabas[waba_id].subscribed_apps.add(state.app_id)
        return JSONResponse({"success": True})

    @app.post("/{version}/{phone_id}/register")
    async def register(phone_id: str, request: Request) -> Response:
        body = await body_of(request)
        state.record(request, body)
        failed = check("register", request, phone_waba(phone_id))
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

    @app.get("/{version}/{phone_id}")
    async def phone_info(phone_id: str, request: Request) -> Response:
        state.record(request, None)
        failed = check("phone", request, phone_waba(phone_id))
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

    @app.get("/{version}/{waba_id}/message_templates")
    async def list_templates(waba_id: str, request: Request) -> Response:
        state.record(request, None)
        failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
        if failed:
            return failed
        q = request.query_params
        rows = [
            t
            for t in state.wabas[waba_id].templates
            if not q.get("status") or t["status"] == q["status"]
        ]
        limit, start = int(q.get("limit") or 25), int(q.get("after") or 0)
        page = rows[start : start + limit]
        result: dict[str, Any] = {
            "data": page,
            "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
        }
        if start + limit < len(rows):
            base = str(request.url).split("?")[0]
            result["paging"]["next"] = f"{base}?limit={limit}&after={start + limit}"
        return JSONResponse(result)

    @app.post("/{version}/{waba_id}/message_templates")
    async def create_template(waba_id: str, request: Request) -> Response:
        body = await body_of(request)
        state.record(request, body)
        failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
        if failed:
            return failed
        problem = _template_problem(body, state.wabas[waba_id].templates)
        if problem:
            return answer(
                graph_error(
                    400,
                    100,
                    "Invalid parameter",
                    error_user_msg=problem,
                    error_data={"details": problem},
                )
            )
        template = {
            **body,
            "id": str(int(time.time() * 1000)) + str(len(state.wabas)),
            "status": "PENDING",
        }
        state.wabas[waba_id].templates.append(template)
        return JSONResponse(
            {"id": template["id"], "status": "PENDING", "category": body["category"]}
        )

    @app.delete("/{version}/{waba_id}/message_templates")
    async def delete_template(waba_id: str, request: Request) -> Response:
        state.record(request, None)
        failed = check("message_templates", request, waba_id if waba_id in state.wabas else None)
        if failed:
            return failed
        name = request.query_params.get("name") or ""
        templates = state.wabas[waba_id].templates
        kept = [t for t in templates if t.get("name") != name]
        if not name or len(kept) == len(templates):
            return answer(
                graph_error(
                    400,
                    100,
                    "Invalid parameter",
                    error_subcode=2593002,
                    error_user_title="Message template not found",
                    error_user_msg=f"Message template {name!r} does not exist.",
                )
            )
        state.wabas[waba_id].templates[:] = kept
        return JSONResponse({"success": True})

    @app.post(SANDBOX_SIGNUP)
    async def sandbox_signup(request: Request) -> Response:
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

    @app.get("/{version}/{phone_id}/whatsapp_business_profile")
    async def get_profile(phone_id: str, request: Request) -> Response:
        state.record(request, None)
        failed = check("whatsapp_business_profile", request, phone_waba(phone_id))
        if failed:
            return failed
        wanted = (request.query_params.get("fields") or "").split(",")
        profile = state.phones[phone_id].profile
        shown = {k: v for k, v in profile.items() if k in wanted}
        return JSONResponse({"data": [{**shown, "messaging_product": "whatsapp"}]})

    @app.post("/{version}/{phone_id}/whatsapp_business_profile")
    async def update_profile(phone_id: str, request: Request) -> Response:
        body = await body_of(request)
        state.record(request, body)
        failed = check("whatsapp_business_profile", request, phone_waba(phone_id))
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

    return app


def _graph_number() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def _template_problem(body: Any, existing: list[dict[str, Any]]) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    name, language = body.get("name"), body.get("language")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        return "name must be lowercase letters, digits and underscores"
    if body.get("category") not in CATEGORIES:
        return "category must be MARKETING, UTILITY or AUTHENTICATION"
    if not isinstance(language, str) or not language:
        return "language is required"
    components = body.get("components")
    if not isinstance(components, list) or not any(
        isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
    ):
        return "components must include a BODY"
    if any(t["name"] == name and t["language"] == language for t in existing):
        return f"Content in this language already exists for {name}"
    return None


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


def combined_graph_app(admin: GraphAdminState, graph: GraphState) -> Any:
    """One ASGI app serving both fakes: account management here, sends and media in graph.py."""
    admin_app, graph_app = make_graph_admin_app(admin), make_graph_app(graph)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        obj = _OBJECT.match(path)
        mine = (
            path == SANDBOX_SIGNUP
            or bool(_ADMIN_EDGES.match(path))
            or (scope.get("method") == "GET" and obj is not None and obj.group(1) in admin.phones)
        )
        await (admin_app if mine else graph_app)(scope, receive, send)

    return app


def sandbox_states(
    tokens: dict[str, str], *, accept_any_token: bool, demo: tuple[str, str, str, str] | None
) -> tuple[GraphAdminState, GraphState]:
    """The two fakes as the offline sandbox runs them; `demo` is the seeded tenant's number
    `(waba_id, phone_number_id, display_phone_number, token)`, so its account pages work."""
    admin = GraphAdminState(accept_any_app=True)
    if demo is not None:
        waba_id, phone_id, display, token = demo
        admin.add_waba(waba_id, {phone_id: display}, verified_name="Pizzaria Demo")
        admin.add_token(token, waba_id)
    return admin, GraphState(tokens=tokens, accept_any_token=accept_any_token)


def main(argv: list[str] | None = None) -> None:
    """Run both fakes on one port (the local sandbox `make run` starts)."""
    import uvicorn

    from walocal import localdev

    args, tokens = parse_args(argv, "Fake Meta Graph API (sends and account)")
    demo = (
        localdev.DEMO_WABA_ID,
        localdev.DEMO_PHONE_ID,
        localdev.DEMO_DISPLAY,
        localdev.DEMO_TOKEN,
    )
    admin, graph = sandbox_states(tokens, accept_any_token=args.accept_any_token, demo=demo)
    app = combined_graph_app(admin, graph)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
