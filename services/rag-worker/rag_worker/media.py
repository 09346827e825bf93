"""Inbound media to text: download through the message's provider, then transcribe/describe/extract.

The result replaces the message's text (stored on the row, so a redelivery does
not pay twice). A failure becomes a polite request to write instead, never silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from rag_worker.llm.clients import LLMClients
from rag_worker.llm.config import AISettings
from rag_worker.media_ai import (
    MediaUnprocessable,
    describe_image,
    extract_pdf_text,
    transcribe_audio,
)
from wacommon import event_types as ev
from wacommon.crypto import SecretBox
from wacommon.errors import PermanentError
from wacommon.events import EventLog
from wacommon.providers.meta_media import DownloadedMedia, download_meta_media
from wacommon.providers.uazapi_media import download_uazapi_media
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo
from wacommon.settings import Settings

log = structlog.get_logger(__name__)

KIND_OF = {"audio": "audio", "image": "image", "sticker": "image", "document": "document"}


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

    async def __call__(self, client: dict[str, Any], row: dict[str, Any]) -> str | None:
        kind = KIND_OF.get(row["kind"])
        if kind is None:
            return None
        tenant_id = str(client["id"])
        caption = row["content"] or ""
        try:
            media = await self._download(tenant_id, row)
            text, extra = await self._understand(kind, media, row)
            content = f"{caption}\n{text}".strip() if caption and caption not in text else text
            ok = True
        except (MediaUnprocessable, PermanentError) as exc:
            reason = exc.reason if isinstance(exc, MediaUnprocessable) else str(exc)[:200]
            polite = MediaUnprocessable(kind, reason).polite_reply  # type: ignore[arg-type]
            content = caption or f"[{row['kind']} não processado]"
            extra = {"media_error": reason, "polite_reply": polite}
            ok = False
            log.warning("media_not_processed", kind=kind, reason=reason)
        await msg_repo.set_inbound_text(self.pool, tenant_id, int(row["id"]), content=content,
                                        extra={"media_processed": True, **extra})
        await self.events.append(tenant_id, ev.MEDIA_PROCESSED, {"kind": kind, "ok": ok, **{
            k: v for k, v in extra.items() if k in ("seconds", "images", "model")}},
            conversation_id=str(row["conversation_id"]))
        return content if ok else f"{content}\n[{extra.get('polite_reply')}]"

    async def _download(self, tenant_id: str, row: dict[str, Any]) -> DownloadedMedia:
        media = row["media"] or {}
        creds = await providers_repo.load_credentials(
            self.pool, self.secrets, tenant_id, row["provider"],
            str(row["provider_instance_id"]) if row["provider_instance_id"] else None,
        )
        cap = self.settings.media_max_bytes
        if row["provider"] == "meta":
            return await download_meta_media(
                self.http, graph_url=self.settings.meta_graph_url,
                version=self.settings.meta_graph_version, media_id=media.get("media_id") or "",
                access_token=str(creds.config.get("access_token") or ""), max_bytes=cap,
            )
        if row["provider"] == "uazapi":
            return await download_uazapi_media(
                self.http, base_url=creds.url or "", token=creds.token or "",
                message_id=media.get("media_id") or row["provider_message_id"], max_bytes=cap,
            )
        url = media.get("url")
        if not url:
            raise PermanentError(f"no way to download {row['provider']} media")
        resp = await self.http.get(url)
        if resp.status_code != 200 or len(resp.content) > cap:
            raise PermanentError(f"media download failed ({resp.status_code})")
        return DownloadedMedia(resp.content, resp.headers.get("content-type"), None)

    async def _understand(
        self, kind: str, media: DownloadedMedia, row: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        mime = (media.mime_type or (row["media"] or {}).get("mime_type") or "").split(";")[0]
        if kind == "audio":
            if not self.ai.openai_api_key:
                raise MediaUnprocessable("audio", "no_transcription_key")
            transcript = await transcribe_audio(
                self.clients.openai(self.ai.openai_api_key, self.ai.openai_base_url), media.data,
                media.filename or "audio.ogg", mime or "audio/ogg", self.ai.transcribe_model,
                max_bytes=self.ai.audio_max_bytes, max_seconds=self.ai.audio_max_seconds,
            )
            return transcript.text, {"seconds": transcript.seconds, "model": self.ai.transcribe_model}
        if kind == "image":
            if not self.ai.gemini_api_key:
                raise MediaUnprocessable("image", "no_vision_key")
            text = await describe_image(
                self.clients.gemini(self.ai.gemini_api_key, self.ai.gemini_base_url), media.data,
                mime or "image/jpeg", self.ai.vision_model, max_bytes=self.ai.image_max_bytes,
            )
            return f"[imagem] {text}", {"images": 1, "model": self.ai.vision_model}
        if mime == "application/pdf" or media.data.startswith(b"%PDF"):
            text = await extract_pdf_text(media.data, max_pages=self.ai.pdf_max_pages,
                                          max_chars=self.ai.pdf_max_chars)
            return f"[documento] {text}", {}
        raise MediaUnprocessable("document", "unsupported")
