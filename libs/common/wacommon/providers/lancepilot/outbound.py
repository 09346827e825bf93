"""LancePilot client: the 24-hour window check, text, media and template sends.

Credentials come per call: `creds.config["token"]` (Bearer), `["workspace_id"]`, and an
optional `["base_url"]` (or `["url"]`) overriding the default base URL; `["window_template"]` is the template
sent instead of free text when the window is closed. The token never appears in errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.gateway_http import call_json
from wacommon.providers.outbound import OutboundMessage, ProviderSendError, SendResult

DEFAULT_BASE_URL = "https://lancepilot.com/api/v3"
_MEDIA_KINDS = frozenset({"image", "audio", "video", "document"})


class LancePilotClient:
    """ProviderClient for LancePilot: one instance per process, credentials per call."""

    def __init__(
        self, http: httpx.AsyncClient, *, default_base_url: str = DEFAULT_BASE_URL
    ) -> None:
        self._http = http
        self._default_base = default_base_url

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        """Send; free messages check the window first and fall back to a template if closed."""
        if message.kind == "template":
            if not message.template:
                raise ProviderSendError(
                    "lancepilot: template message without a template",
                    retryable=False,
                    code="invalid_message",
                )
            return await self.send_template(creds, message.to, message.template)
        if message.kind != "text" and message.kind not in _MEDIA_KINDS:
            raise ProviderSendError(
                f"lancepilot: cannot send {message.kind!r} messages",
                retryable=False,
                code="unsupported_kind",
            )
        if not await self.can_send_free_message(creds, message.to):
            template = message.template or _mapping(creds.config.get("window_template"))
            if template is None:
                raise ProviderSendError(
                    "lancepilot: 24-hour window closed and no template configured",
                    retryable=False,
                    code="window_closed",
                )
            result = await self.send_template(creds, message.to, template)
            return SendResult(result.provider_message_id, {**result.raw, "window_closed": True})
        if message.kind == "text":
            return await self.send_text(creds, message.to, message.text)
        if not message.media_url:
            raise ProviderSendError(
                "lancepilot: media needs a URL", retryable=False, code="invalid_message"
            )
        return await self.send_media(
            creds,
            message.to,
            message.kind,
            message.media_url,
            caption=message.caption or message.text or None,
            filename=message.filename,
        )

    async def can_send_free_message(self, creds: ProviderCredentials, number: str) -> bool:
        """Whether the 24-hour window with `number` is open (an unknown contact: closed)."""
        try:
            answer = await self._call(creds, "GET", number, "can-send-free-message")
        except ProviderSendError as exc:
            if exc.http_status == 404:
                return False
            raise
        data = answer.get("data")
        return isinstance(data, dict) and data.get("canSend") is True

    async def send_text(self, creds: ProviderCredentials, to: str, text: str) -> SendResult:
        """POST .../messages/text, no window check."""
        answer = await self._call(creds, "POST", to, "messages/text", {"text": {"body": text}})
        return _result(answer)

    async def send_media(
        self,
        creds: ProviderCredentials,
        to: str,
        kind: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SendResult:
        """POST .../messages/{image|audio|video|document} with a public file URL."""
        body: dict[str, Any] = {"file": url}
        if caption and kind != "audio":
            body["caption"] = caption
        if filename and kind == "document":
            body["filename"] = filename
        return _result(await self._call(creds, "POST", to, f"messages/{kind}", body))

    async def send_template(
        self, creds: ProviderCredentials, to: str, template: Mapping[str, Any]
    ) -> SendResult:
        """POST .../template-messages {template_id, template_data} (allowed outside the window)."""
        template_id = template.get("template_id", template.get("id"))
        if template_id is None:
            raise ProviderSendError(
                "lancepilot: template needs a template_id",
                retryable=False,
                code="invalid_message",
            )
        data = template.get("template_data", template.get("data")) or {}
        body = {"template_id": template_id, "template_data": dict(data)}
        return _result(await self._call(creds, "POST", to, "template-messages", body))

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        """LancePilot exposes no read receipt or typing call: nothing to do."""

    async def _call(
        self,
        creds: ProviderCredentials,
        method: str,
        number: str,
        action: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        token = creds.token
        workspace = creds.config.get("workspace_id") or creds.config.get("workspace")
        if not token or not workspace:
            raise ProviderSendError(
                "lancepilot: instance has no token or workspace_id",
                retryable=False,
                code="credentials_missing",
                credentials_invalid=True,
            )
        digits = "".join(ch for ch in number if ch.isdigit())
        configured = creds.config.get("base_url") or creds.url
        base = str(configured or self._default_base).rstrip("/")
        url = (
            f"{base}/workspaces/{quote(str(workspace), safe='')}/contacts/number/{digits}/{action}"
        )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return await call_json(
            self._http, method, url, provider="lancepilot", headers=headers, body=body
        )


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) and value else None


def _result(answer: dict[str, Any]) -> SendResult:
    # the send answer is not documented: look for an id where JSON:API would put it
    data = answer.get("data")
    item = data if isinstance(data, dict) else answer
    found = item.get("attributes")
    attributes: dict[str, Any] = found if isinstance(found, dict) else {}
    for value in (item.get("id"), attributes.get("wamid"), attributes.get("message_id")):
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return SendResult(str(value), answer)
    return SendResult(None, answer)
