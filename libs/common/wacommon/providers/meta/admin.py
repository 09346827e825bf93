"""Graph API calls for Meta account management: Embedded Signup, templates, business profile.

Tokens travel only in the Authorization header (the code exchange, by Meta's design,
carries the app secret and the code in its query string); none of them ever appears
in an error message. Graph errors are classified like message sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import httpx

from wacommon.infra.netguard import AddressBlocked, HostNotFound
from wacommon.providers.meta.errors import classify_graph_error

PROFILE_FIELDS = "about,address,description,email,profile_picture_url,websites,vertical"
TEMPLATE_FIELDS = "id,name,status,category,language,components,parameter_format,rejected_reason"
_GRAPH_ID = re.compile(r"^\d{1,32}$")
# the business categories a WhatsApp business profile may name
Vertical = Literal[
    "UNDEFINED",
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "NOT_A_BIZ",
]
VERTICALS: frozenset[str] = frozenset(get_args(Vertical))


class GraphCallFailed(Exception):
    """A Graph account-management call failed; `message` and `code` are safe to show."""

    def __init__(
        self,
        step: str,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        credentials_invalid: bool = False,
    ) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.code = code
        self.http_status = http_status
        self.retryable = retryable
        self.credentials_invalid = credentials_invalid


def failure_status(exc: GraphCallFailed) -> int:
    """The HTTP status saying whose problem a failed call is: 409 when the stored
    credentials no longer work, 400 when Graph refused what was asked (a bad code, a
    template it rejects), 502 when Graph failed, throttled or could not be reached (the one
    case where retrying as is may succeed)."""
    if exc.credentials_invalid:
        return 409
    if not exc.retryable and exc.http_status is not None and 400 <= exc.http_status < 500:
        return 400
    return 502


@dataclass(frozen=True)
class PhoneNumberInfo:
    """What Graph says about a business phone number."""

    id: str
    display_phone_number: str | None
    verified_name: str | None
    raw: dict[str, Any]


def graph_id(value: str, what: str) -> str:
    """A numeric Graph object id, refused otherwise (it becomes a URL path segment)."""
    if not _GRAPH_ID.fullmatch(value):
        raise ValueError(f"{what} must be a numeric Graph id")
    return value


class MetaAdminClient:
    """Account-management calls on the Graph API; one per process, tokens per call."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        version: str,
        app_id: str | None = None,
        app_secret: str | None = None,
    ) -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._app_id = app_id
        self._app_secret = app_secret

    async def exchange_code(self, code: str) -> str:
        """The business token for an Embedded Signup `code` (valid for about 30 seconds)."""
        if not self._app_id or not self._app_secret:
            raise GraphCallFailed("exchange_code", "META_APP_ID and META_APP_SECRET are required")
        params = {"client_id": self._app_id, "client_secret": self._app_secret, "code": code}
        answer = await self._call(
            "exchange_code",
            "GET",
            "oauth/access_token",
            None,
            params=params,
            secrets=(self._app_secret, code),
        )
        # the docs do not show the JSON; implementations read access_token, pywa business_token
        token = answer.get("access_token") or answer.get("business_token")
        if not isinstance(token, str) or not token:
            raise GraphCallFailed("exchange_code", "answer carried no access token")
        return token

    async def subscribe_app(self, waba_id: str, token: str) -> None:
        """Subscribe our app to the WABA's webhooks."""
        path = f"{graph_id(waba_id, 'waba_id')}/subscribed_apps"
        await self._expect_success("subscribe_app", "POST", path, token)

    async def register_number(
        self, phone_id: str, token: str, pin: str, *, data_localization_region: str | None = None
    ) -> None:
        """Register the number for Cloud API; `pin` becomes its two-step verification PIN."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "pin": pin}
        if data_localization_region:
            body["data_localization_region"] = data_localization_region
        path = f"{graph_id(phone_id, 'phone_number_id')}/register"
        await self._expect_success(
            "register_number", "POST", path, token, json=body, secrets=(pin,)
        )

    async def phone_number_info(self, phone_id: str, token: str) -> PhoneNumberInfo:
        """Display number and verified name of a business phone number."""
        fields = "id,display_phone_number,verified_name,code_verification_status,quality_rating"
        answer = await self._call(
            "phone_number_info",
            "GET",
            graph_id(phone_id, "phone_number_id"),
            token,
            params={"fields": fields},
        )
        return PhoneNumberInfo(
            id=str(answer.get("id") or phone_id),
            display_phone_number=_opt_str(answer.get("display_phone_number")),
            verified_name=_opt_str(answer.get("verified_name")),
            raw=answer,
        )

    async def list_templates(
        self,
        waba_id: str,
        token: str,
        status: str | None = None,
        *,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> list[dict[str, Any]]:
        """The WABA's message templates, optionally only those in `status`, all pages."""
        path = f"{graph_id(waba_id, 'waba_id')}/message_templates"
        params: dict[str, Any] = {"fields": TEMPLATE_FIELDS, "limit": page_size}
        if status:
            params["status"] = status
        out: list[dict[str, Any]] = []
        for _ in range(max_pages):
            answer = await self._call("list_templates", "GET", path, token, params=params)
            data = answer.get("data")
            if isinstance(data, list):
                out.extend(t for t in data if isinstance(t, dict))
            after = _next_cursor(answer)
            if not after:
                break
            params["after"] = after
        return out

    async def create_template(
        self, waba_id: str, token: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Submit a template for review; Graph answers `{id, status, category}`."""
        path = f"{graph_id(waba_id, 'waba_id')}/message_templates"
        return await self._call("create_template", "POST", path, token, json=body)

    async def delete_template(self, waba_id: str, token: str, name: str) -> None:
        """Delete every language of the template `name` (Graph answers `{success: true}`)."""
        path = f"{graph_id(waba_id, 'waba_id')}/message_templates"
        answer = await self._call("delete_template", "DELETE", path, token, params={"name": name})
        if answer.get("success") is not True:
            raise GraphCallFailed("delete_template", "graph did not answer success")

    async def get_business_profile(self, phone_id: str, token: str) -> dict[str, Any]:
        """The number's business profile (about, address, description, email, websites, ...)."""
        path = f"{graph_id(phone_id, 'phone_number_id')}/whatsapp_business_profile"
        answer = await self._call(
            "get_business_profile", "GET", path, token, params={"fields": PROFILE_FIELDS}
        )
        data = answer.get("data")
        first = data[0] if isinstance(data, list) and data else {}
        if not isinstance(first, dict):
            return {}
        return {k: v for k, v in first.items() if k != "messaging_product"}

    async def update_business_profile(
        self, phone_id: str, token: str, fields: dict[str, Any]
    ) -> None:
        """Change some fields of the number's business profile."""
        path = f"{graph_id(phone_id, 'phone_number_id')}/whatsapp_business_profile"
        body = {"messaging_product": "whatsapp", **fields}
        await self._expect_success("update_business_profile", "POST", path, token, json=body)

    async def _expect_success(
        self,
        step: str,
        method: str,
        path: str,
        token: str,
        *,
        json: Any = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        answer = await self._call(step, method, path, token, json=json, secrets=secrets)
        if answer.get("success") is not True:
            raise GraphCallFailed(step, "graph did not answer success")

    async def _call(
        self,
        step: str,
        method: str,
        path: str,
        token: str | None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        secrets: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            resp = await self._http.request(
                method, f"{self._base}/{path}", params=params, json=json, headers=headers
            )
        except (httpx.HTTPError, AddressBlocked, HostNotFound) as exc:
            # the guarded client's refusals too: an unreachable Graph is a 502, never a 500
            raise GraphCallFailed(
                step, f"graph unreachable ({type(exc).__name__})", retryable=True
            ) from None
        if resp.status_code >= 300:
            err = classify_graph_error(resp.status_code, resp.content, secret=token)
            raise GraphCallFailed(
                step,
                _scrub(str(err), secrets),
                code=err.code,
                http_status=resp.status_code,
                retryable=err.retryable,
                credentials_invalid=err.credentials_invalid,
            )
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise GraphCallFailed(
                step, "graph answered without a JSON object", http_status=resp.status_code
            )
        return answer


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def _next_cursor(answer: dict[str, Any]) -> str | None:
    paging = answer.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
