"""Uazapi (uazapiGO v2) instance calls: create, connect (QR code or pairing code), status,
disconnect and the webhook, in the wire format of its OpenAPI (v2.0.1).

`POST /instance/create` takes the server's `admintoken`; every other call the instance's
own `token` header. `POST /instance/connect` with `{"phone": "<digits>"}` asks for a
pairing code, without it for a QR code; `GET /instance/status` answers the current QR code
while connecting (they are renewed), so the page polls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from console.channels.provider_http import ProviderFailure, call

PROVIDER = "a Uazapi"
# the webhook events the ingest reads. Echoes of our own sends are kept (the ingest marks
# them `own_echo` and matches them to the outbox) and so is a human typing on the phone
# (fromMe without wasSentByApi: it pauses the bot); only group chatter is left at the source
WEBHOOK_EVENTS = ("messages", "connection")
WEBHOOK_EXCLUDE = ("isGroupYes",)
_STATES = frozenset({"connected", "connecting", "disconnected"})


@dataclass(frozen=True, slots=True)
class InstanceState:
    """What the page shows of an instance; `qrcode` is a `data:image/...;base64` URL."""

    status: str
    qrcode: str | None = None
    paircode: str | None = None
    number: str | None = None
    profile_name: str | None = None
    last_disconnect_reason: str | None = None

    @property
    def connected(self) -> bool:
        return self.status == "connected"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def qr_image(value: Any) -> str | None:
    """The QR code as an image URL: Uazapi sends a PNG data URL; bare base64 gets the prefix.
    A raw pairing string (`2@...`) cannot be drawn without a QR encoder and is left out."""
    text = _text(value)
    if text is None:
        return None
    if text.startswith("data:image/"):
        return text
    if text.startswith("iVBOR"):  # base64 of the PNG signature
        return "data:image/png;base64," + text
    return None


def parse_state(answer: Any) -> InstanceState:
    """Both shapes: connect's `{connected, jid, instance}` and status's `{instance, status}`."""
    body = _dict(answer)
    instance = _dict(body.get("instance"))
    flags = _dict(body.get("status")) or body
    status = str(instance.get("status") or "").lower()
    if status not in _STATES:
        status = "connected" if flags.get("connected") and flags.get("loggedIn") else "disconnected"
    jid = _dict(flags.get("jid"))
    number = _text(jid.get("user")) or (
        _text(instance.get("owner")) if status == "connected" else None
    )
    if number is not None and not number.isdigit():
        number = None  # `owner` may be an e-mail on some servers
    return InstanceState(
        status=status,
        qrcode=qr_image(instance.get("qrcode")) if status == "connecting" else None,
        paircode=_text(instance.get("paircode")) if status == "connecting" else None,
        number=number,
        profile_name=_text(instance.get("profileName")),
        last_disconnect_reason=_text(instance.get("lastDisconnectReason")),
    )


class UazapiInstances:
    """Instance calls against one Uazapi server, through the guarded client."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, timeout_s: float) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s

    async def _call(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
    ) -> Any:
        return await call(
            self._http,
            PROVIDER,
            method,
            self._base + path,
            headers={"Accept": "application/json", **headers},
            body=body,
            timeout_s=self._timeout,
        )

    async def create(self, admin_token: str, name: str) -> str:
        """A new (disconnected) instance on the server; its token."""
        answer = _dict(
            await self._call(
                "POST", "/instance/create", {"admintoken": admin_token}, {"name": name}
            )
        )
        token = _text(answer.get("token")) or _text(_dict(answer.get("instance")).get("token"))
        if token is None:
            raise ProviderFailure("a Uazapi criou a instância mas não devolveu o token dela")
        return token

    async def connect(self, token: str, phone: str | None = None) -> InstanceState:
        body = {"phone": phone} if phone else {}
        return parse_state(await self._call("POST", "/instance/connect", {"token": token}, body))

    async def status(self, token: str) -> InstanceState:
        return parse_state(await self._call("GET", "/instance/status", {"token": token}))

    async def disconnect(self, token: str) -> InstanceState:
        answer = await self._call("POST", "/instance/disconnect", {"token": token}, {})
        state = parse_state(answer)
        # the answer's instance may still say connected while the session closes
        return InstanceState("disconnected", profile_name=state.profile_name)

    async def set_webhook(self, token: str, url: str) -> None:
        """Simple mode: one webhook per instance, created or replaced."""
        await self._call(
            "POST",
            "/webhook",
            {"token": token},
            {
                "enabled": True,
                "url": url,
                "events": list(WEBHOOK_EVENTS),
                "excludeMessages": list(WEBHOOK_EXCLUDE),
            },
        )
