"""Meta WhatsApp Cloud API client: sends, uploads and read receipts over the Graph API.

Credentials come per call (`creds.config`: `phone_id`, `access_token`, `waba_id`);
the client holds only the shared httpx client. The token is sent in a header and
scrubbed from every error it raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.meta.errors import classify_graph_error
from wacommon.providers.meta.outbound_payloads import (
    envelope,
    mark_read_body,
    media_object,
    message_body,
    template_object,
    text_object,
)
from wacommon.providers.outbound import OutboundMessage, ProviderSendError, SendResult

__all__ = ["MetaGraphClient", "classify_graph_error"]

# httpx errors raised before any byte of the request left: safe to resend
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class MetaGraphClient:
    """ProviderClient for Meta: one instance per process, credentials per call."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, version: str) -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/{version.strip('/')}"

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        """Send any OutboundMessage kind."""
        try:
            body = message_body(message)
        except ValueError as exc:
            raise ProviderSendError(
                f"invalid outbound message: {exc}", retryable=False, code="invalid_message"
            ) from None
        return await self._post_message(creds, body)

    async def send_text(
        self,
        creds: ProviderCredentials,
        to: str,
        text: str,
        *,
        preview_url: bool = False,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """A text message, optionally quoting `reply_to`."""
        body = envelope(to, "text", reply_to=reply_to, callback_data=callback_data)
        body["text"] = text_object(text, preview_url=preview_url)
        return await self._post_message(creds, body)

    async def send_image(
        self,
        creds: ProviderCredentials,
        to: str,
        *,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """An image by uploaded media id or public link."""
        obj = media_object("image", media_id=media_id, link=link, caption=caption)
        return await self._send_media(creds, to, "image", obj, reply_to, callback_data)

    async def send_audio(
        self,
        creds: ProviderCredentials,
        to: str,
        *,
        media_id: str | None = None,
        link: str | None = None,
        voice: bool = False,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """An audio file, or a voice note with `voice=True` (OGG/OPUS)."""
        obj = media_object("audio", media_id=media_id, link=link, voice=voice)
        return await self._send_media(creds, to, "audio", obj, reply_to, callback_data)

    async def send_video(
        self,
        creds: ProviderCredentials,
        to: str,
        *,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """A video by uploaded media id or public link."""
        obj = media_object("video", media_id=media_id, link=link, caption=caption)
        return await self._send_media(creds, to, "video", obj, reply_to, callback_data)

    async def send_document(
        self,
        creds: ProviderCredentials,
        to: str,
        *,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """A document; `filename` is what the customer sees."""
        obj = media_object(
            "document", media_id=media_id, link=link, caption=caption, filename=filename
        )
        return await self._send_media(creds, to, "document", obj, reply_to, callback_data)

    async def send_template(
        self,
        creds: ProviderCredentials,
        to: str,
        name: str,
        language: str | Mapping[str, Any],
        components: Sequence[Mapping[str, Any]] | None = None,
        *,
        callback_data: str | None = None,
    ) -> SendResult:
        """An approved template (the only kind allowed outside the 24-hour window)."""
        body = envelope(to, "template", callback_data=callback_data)
        body["template"] = template_object(name, language, components)
        return await self._post_message(creds, body)

    async def send_interactive(
        self,
        creds: ProviderCredentials,
        to: str,
        interactive: Mapping[str, Any],
        *,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """Reply buttons or a list (build them with meta_payloads.reply_buttons/list_message)."""
        body = envelope(to, "interactive", reply_to=reply_to, callback_data=callback_data)
        body["interactive"] = dict(interactive)
        return await self._post_message(creds, body)

    async def send_reaction(
        self, creds: ProviderCredentials, to: str, message_id: str, emoji: str
    ) -> SendResult:
        """React to a message; an empty emoji removes the reaction."""
        body = envelope(to, "reaction")
        body["reaction"] = {"message_id": message_id, "emoji": emoji}
        return await self._post_message(creds, body)

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        """Mark an inbound message read, optionally showing the typing indicator."""
        await self._post(creds, "messages", json=mark_read_body(provider_message_id, typing=typing))

    async def upload_media(
        self, creds: ProviderCredentials, data: bytes, *, mime_type: str, filename: str = "file"
    ) -> str:
        """Upload bytes (multipart) and return the media id to send them by."""
        form = {"messaging_product": "whatsapp", "type": mime_type}
        files = {"file": (filename, data, mime_type)}
        answer = await self._post(creds, "media", data=form, files=files)
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise ProviderSendError("meta media upload answered without an id", retryable=False)
        return media_id

    async def _send_media(
        self,
        creds: ProviderCredentials,
        to: str,
        kind: str,
        obj: dict[str, Any],
        reply_to: str | None,
        callback_data: str | None,
    ) -> SendResult:
        body = envelope(to, kind, reply_to=reply_to, callback_data=callback_data)
        body[kind] = obj
        return await self._post_message(creds, body)

    async def _post_message(self, creds: ProviderCredentials, body: dict[str, Any]) -> SendResult:
        answer = await self._post(creds, "messages", json=body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        wamid = first.get("id") if isinstance(first, dict) else None
        return SendResult(wamid if isinstance(wamid, str) else None, raw=answer)

    async def _post(self, creds: ProviderCredentials, edge: str, **kwargs: Any) -> dict[str, Any]:
        phone_id, token = _phone_and_token(creds)
        url = f"{self._base}/{phone_id}/{edge}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            resp = await self._http.post(url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from None
        if resp.status_code >= 300:
            raise classify_graph_error(
                resp.status_code,
                resp.content,
                retry_after=resp.headers.get("retry-after"),
                secret=token,
            )
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        return answer if isinstance(answer, dict) else {}


def _phone_and_token(creds: ProviderCredentials) -> tuple[str, str]:
    phone_id = creds.config.get("phone_id") or creds.config.get("phone_number_id")
    token = creds.config.get("access_token") or creds.token
    if not phone_id or not token:
        raise ProviderSendError(
            f"meta credentials for tenant {creds.tenant_id} lack phone_id or access_token",
            retryable=False,
            code="missing_credentials",
            credentials_invalid=True,
        )
    return str(phone_id), str(token)


def _transport_error(exc: httpx.HTTPError) -> ProviderSendError:
    """Network failures are retryable; after the request left, the send may have happened."""
    sent = not isinstance(exc, _NOT_SENT)
    kind = type(exc).__name__
    return ProviderSendError(
        f"meta graph request failed: {kind}",
        retryable=True,
        code=kind,
        ambiguous=sent,
    )
