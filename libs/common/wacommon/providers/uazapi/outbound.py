"""Uazapi (uazapiGO v2) client: text, media, reactions, read receipts and typing.

Credentials come per call: `creds.config["url"]` (the instance's own base URL) and
`creds.config["token"]` (sent in the `token` header, never logged or put in errors).
"""

from __future__ import annotations

from typing import Any

import httpx

from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.gateway_http import call_json
from wacommon.providers.outbound import OutboundMessage, ProviderSendError, SendResult
from wacommon.providers.uazapi.inbound import TRACK_SOURCE  # echoed back in webhooks

_MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


class UazapiClient:
    """ProviderClient for Uazapi: one instance per process, credentials per call."""

    def __init__(self, http: httpx.AsyncClient, *, track_source: str = TRACK_SOURCE) -> None:
        self._http = http
        self._track_source = track_source

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        """Send a text, media or reaction message; other kinds are refused (permanent)."""
        if message.kind == "text":
            return await self.send_text(
                creds,
                message.to,
                message.text,
                reply_to=message.reply_to,
                link_preview=message.preview_url,
                track_id=message.callback_data,
            )
        if message.kind in _MEDIA_KINDS:
            if not message.media_url:
                raise ProviderSendError(
                    "uazapi: media needs a URL", retryable=False, code="invalid_message"
                )
            return await self.send_media(
                creds,
                message.to,
                message.kind,
                message.media_url,
                caption=message.caption or message.text or None,
                filename=message.filename,
                voice=message.voice,
                reply_to=message.reply_to,
                track_id=message.callback_data,
            )
        if message.kind == "reaction" and message.reaction_to:
            return await self.send_reaction(creds, message.to, message.reaction_to, message.text)
        raise ProviderSendError(
            f"uazapi: cannot send {message.kind!r} messages",
            retryable=False,
            code="unsupported_kind",
        )

    async def send_text(
        self,
        creds: ProviderCredentials,
        to: str,
        text: str,
        *,
        reply_to: str | None = None,
        link_preview: bool = False,
        track_id: str | None = None,
        delay_ms: int | None = None,
    ) -> SendResult:
        """POST /send/text; `delay_ms` shows "typing..." for that long before sending."""
        body: dict[str, Any] = {
            "number": recipient(to),
            "text": text,
            "linkPreview": link_preview,
            **self._track(track_id),
        }
        if reply_to:
            body["replyid"] = reply_to
        if delay_ms:
            body["delay"] = delay_ms
        return _result(await self._post(creds, "/send/text", body))

    async def send_media(
        self,
        creds: ProviderCredentials,
        to: str,
        kind: str,
        file: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
        voice: bool = False,
        reply_to: str | None = None,
        track_id: str | None = None,
    ) -> SendResult:
        """POST /send/media with `file` as an https URL or base64; audio `voice` goes as ptt."""
        media_type = "ptt" if kind == "audio" and voice else kind
        body: dict[str, Any] = {
            "number": recipient(to),
            "type": media_type,
            "file": file,
            **self._track(track_id),
        }
        if caption:
            body["text"] = caption
        if filename:
            body["docName"] = filename
        if reply_to:
            body["replyid"] = reply_to
        return _result(await self._post(creds, "/send/media", body))

    async def send_reaction(
        self, creds: ProviderCredentials, to: str, message_id: str, emoji: str
    ) -> SendResult:
        """POST /message/react; an empty emoji removes the reaction."""
        body = {"number": recipient(to), "text": emoji, "id": message_id}
        return _result(await self._post(creds, "/message/react", body))

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        """POST /message/markread, then "composing" presence in `chat` when `typing`."""
        await self._post(creds, "/message/markread", {"id": [provider_message_id]})
        if typing and chat:
            await self.send_presence(creds, chat, "composing")

    async def send_presence(
        self,
        creds: ProviderCredentials,
        number: str,
        presence: str = "composing",
        *,
        delay_ms: int | None = None,
    ) -> None:
        """POST /message/presence: composing, recording or paused."""
        body: dict[str, Any] = {"number": recipient(number), "presence": presence}
        if delay_ms:
            body["delay"] = delay_ms
        await self._post(creds, "/message/presence", body)

    def _track(self, track_id: str | None) -> dict[str, str]:
        track = {"track_source": self._track_source}
        if track_id:
            track["track_id"] = track_id
        return track

    async def _post(
        self, creds: ProviderCredentials, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        base, token = creds.url, creds.token
        if not base or not token:
            raise ProviderSendError(
                "uazapi: instance has no url or token",
                retryable=False,
                code="credentials_missing",
                credentials_invalid=True,
            )
        return await call_json(
            self._http,
            "POST",
            f"{base.rstrip('/')}{path}",
            provider="uazapi",
            headers={"token": token, "Accept": "application/json"},
            body=body,
        )


def recipient(to: str) -> str:
    """A JID as given (`@lid`, `@g.us`, ...), else the phone number's digits."""
    if "@" in to:
        return to
    return "".join(ch for ch in to if ch.isdigit())


def _result(answer: dict[str, Any]) -> SendResult:
    # webhooks echo `messageid`, the short form: store that to match echoes and receipts
    short = answer.get("messageid")
    full = answer.get("id")
    if isinstance(short, str) and short:
        return SendResult(short, answer)
    if isinstance(full, str) and full:
        return SendResult(full.rsplit(":", 1)[-1], answer)
    return SendResult(None, answer)
