"""Inbound media to text: download through the message's provider, then transcribe/describe/extract.

The result replaces the message's text (stored on the row, so a redelivery does
not pay twice). A failure is stored with the polite request to write instead, which
the handler sends when nothing else in the burst can be answered: never silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from rag_worker.burst_media import MediaText
from rag_worker.media_ai import (
    MediaKind,
    MediaUnprocessable,
    describe_image,
    extract_pdf_text,
    transcribe_audio,
)
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from wacommon.infra.crypto import SecretBox
from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.infra.infra_errors import is_infrastructure
from wacommon.infra.sandbox import parse_limits
from wacommon.infra.settings import Settings
from wacommon.providers.media_link import fetch_media_link
from wacommon.providers.meta.media import DownloadedMedia, MediaTooLarge, download_meta_media
from wacommon.providers.uazapi.media import download_uazapi_media
from wacommon.repositories import event_types as ev
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import EventLog

log = structlog.get_logger(__name__)

KIND_OF: dict[str, MediaKind] = {
    "audio": "audio",
    "image": "image",
    "sticker": "image",
    "document": "document",
}


@dataclass
class MediaProcessor:
    """Turns a stored inbound media message into text for the conversation."""

    pool: asyncpg.Pool
    http: httpx.AsyncClient
    settings: Settings
    ai: AISettings
    clients: LLMClients
    secrets: SecretBox
    events: EventLog
    # links a provider hands us (Uazapi fileURL, LancePilot media URLs): the guarded client
    links: httpx.AsyncClient

    async def __call__(
        self, client: dict[str, Any], row: dict[str, Any], retry_count: int = 0
    ) -> MediaText | None:
        """The message's text, stored on the row; a transient failure retries until the last try."""
        kind = KIND_OF.get(row["kind"])
        if kind is None:
            return None
        tenant_id = str(client["id"])
        caption = row["content"] or ""
        try:
            self._check_configured(kind)
            media = await self._download(tenant_id, row)
            text, extra = await self._understand(kind, media, row)
            result = MediaText(f"{caption}\n{text}" if caption and caption not in text else text)
            data: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        except Exception as exc:
            # an outage is retried; anything else about this file (whatever the parser or the
            # provider threw) is permanent: the customer is asked to write, never left waiting
            transient = isinstance(exc, RetryableError) or is_infrastructure(exc)
            if transient and retry_count < self.settings.max_retries:
                raise
            reason = _reason(exc)
            result = MediaText(caption, MediaUnprocessable(kind, reason).polite_reply)
            data = {"reason": reason}
            log.warning("media_not_processed", kind=kind, reason=reason)
        await msg_repo.set_inbound_text(
            self.pool,
            tenant_id,
            int(row["id"]),
            content=result.content,
            extra={"media_processed": True, "polite_reply": result.polite_reply, **data},
        )
        await self.events.append(
            tenant_id,
            ev.MEDIA_PROCESSED,
            {"kind": kind, "ok": result.polite_reply is None, **data},
            conversation_id=str(row["conversation_id"]),
        )
        return result

    def _check_configured(self, kind: MediaKind) -> None:
        # checked before downloading: without a key the bytes would be fetched for nothing
        if kind == "audio" and not self.ai.openai_api_key:
            raise MediaUnprocessable("audio", "no_transcription_key")
        if kind == "image" and not self.ai.gemini_api_key:
            raise MediaUnprocessable("image", "no_vision_key")

    async def _download(self, tenant_id: str, row: dict[str, Any]) -> DownloadedMedia:
        media = row["media"] or {}
        creds = await providers_repo.load_credentials(
            self.pool,
            self.secrets,
            tenant_id,
            row["provider"],
            str(row["provider_instance_id"]) if row["provider_instance_id"] else None,
        )
        cap = self.settings.media_max_bytes
        if row["provider"] == "meta":
            return await download_meta_media(
                self.http,
                graph_url=self.settings.meta_graph_url,
                version=self.settings.meta_graph_version,
                media_id=media.get("media_id") or "",
                access_token=str(creds.config.get("access_token") or ""),
                max_bytes=cap,
            )
        if row["provider"] == "uazapi":
            return await download_uazapi_media(
                self.http,
                base_url=creds.url or "",
                token=creds.token or "",
                message_id=media.get("media_id") or row["provider_message_id"],
                max_bytes=cap,
                links=self.links,
                link_hosts=self.ai.tool_allowed_hosts,
            )
        url = media.get("url")
        if not url:
            raise PermanentError(f"no way to download {row['provider']} media")
        data, mime = await fetch_media_link(
            self.links,
            str(url),
            allowed_hosts=self.ai.tool_allowed_hosts,
            max_bytes=cap,
            what=f"{row['provider']} media",
        )
        return DownloadedMedia(data, mime, None)

    async def _understand(
        self, kind: MediaKind, media: DownloadedMedia, row: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        ref = row["media"] or {}
        mime = (media.mime_type or ref.get("mime_type") or "").split(";")[0]
        if kind == "audio":
            assert self.ai.openai_api_key  # _check_configured
            seconds = ref.get("seconds")
            transcript = await transcribe_audio(
                self.clients.openai(self.ai.openai_api_key, self.ai.openai_base_url),
                media.data,
                media.filename or "audio.ogg",
                mime or "audio/ogg",
                self.ai.transcribe_model,
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
                max_bytes=self.ai.audio_max_bytes,
                max_seconds=self.ai.audio_max_seconds,
            )
            return transcript.text, {
                "seconds": transcript.seconds,
                "model": self.ai.transcribe_model,
            }
        if kind == "image":
            assert self.ai.gemini_api_key  # _check_configured
            text = await describe_image(
                self.clients.gemini(self.ai.gemini_api_key, self.ai.gemini_base_url),
                media.data,
                mime or "image/jpeg",
                self.ai.vision_model,
                max_bytes=self.ai.image_max_bytes,
            )
            return f"[imagem] {text}", {"images": 1, "model": self.ai.vision_model}
        if mime == "application/pdf" or media.data.startswith(b"%PDF"):
            text = await extract_pdf_text(
                media.data,
                max_pages=self.ai.pdf_max_pages,
                max_chars=self.ai.pdf_max_chars,
                limits=parse_limits(self.settings),
            )
            return f"[documento] {text}", {}
        raise MediaUnprocessable("document", "unsupported")


def _reason(exc: Exception) -> str:
    """A short cause for the event: never the provider's full error text."""
    if isinstance(exc, MediaUnprocessable):
        return exc.reason
    if isinstance(exc, MediaTooLarge):
        return "too_large"
    if isinstance(exc, RetryableError) or is_infrastructure(exc):
        return "download_unavailable"
    if isinstance(exc, PermanentError):
        return f"download_failed: {type(exc).__name__}"
    return f"unreadable: {type(exc).__name__}"
