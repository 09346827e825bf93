"""Voice replies: the answer to a voice note spoken back as a voice note.

Per tenant (`tools_config.voice_replies`): `active`, `mode` ("voice_notes": answer a voice
note with one, the default; "always"), `voice`, `model`. Per contact: a customer who asks
("pode mandar áudio?") gets voice from then on, one who asks for text ("pode escrever")
gets text again; the wish lives in the conversation's `attributes.voice_replies`.

The reply's text is what the history keeps (the row's content); the audio is Ogg/Opus from
OpenAI's `audio/speech` or a Gemini TTS model (`voice_replies.provider`, else the tenant's
model's vendor: waai.speech), queued in outbound_media and sent by the sender's stored-media
path (Meta: uploaded to /media, sent as audio with `voice`; Uazapi: ptt). A speech that
fails leaves the text reply as it was: the customer is answered either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter

from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.responders.responder import ResponderOutput
from waai.speech import SpeechFailed, speaker_for, speech_vendor
from wacommon.infra.dbtypes import Executor
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import EventLog
from wacommon.repositories.knowledge_text import unaccent

log = structlog.get_logger(__name__)

SPOKEN = Counter("wa_voice_replies_total", "Voice replies by outcome", ["outcome"])
ATTRIBUTE = "voice_replies"
MIME = "audio/ogg"
FILENAME = "resposta.ogg"
_ASKS_VOICE = re.compile(
    r"\b(manda|mande|mandar|envia|envie|responde|responda|prefiro|pode ser|quero|pode)\b"
    r"[^.?!]{0,30}\b(audio|audios|audinho|voz)\b"
)
_ASKS_TEXT = re.compile(
    r"\b(sem audio|nao (precisa|quero|mande|manda)[^.?!]{0,20}audio|pode escrever|"
    r"prefiro (texto|escrito|mensagem escrita)|(manda|mande|responde)[^.?!]{0,15}(texto|escrito))\b"
)


@dataclass(frozen=True)
class VoiceNote:
    """A reply spoken: its text (kept in the history) and the Ogg/Opus bytes."""

    text: str
    data: bytes


def contact_wish(texts: list[str]) -> bool | None:
    """True when the customer asked for audio, False for text, None when they said neither."""
    folded = unaccent("\n".join(texts))
    if _ASKS_TEXT.search(folded):
        return False
    if _ASKS_VOICE.search(folded):
        return True
    return None


def wants_voice(
    tools_config: dict[str, Any], attributes: dict[str, Any], burst_kinds: list[str]
) -> bool:
    """Whether this reply goes as a voice note."""
    cfg = _settings(tools_config)
    if cfg is None:
        return False
    wish = attributes.get(ATTRIBUTE)
    if wish is not None:
        return bool(wish)
    if cfg.get("mode") == "always":
        return True
    return "audio" in burst_kinds


async def remember_wish(db: Executor, tenant_id: str, conversation_id: str, wish: bool) -> None:
    """Keep the contact's choice on the conversation (its attributes)."""
    await db.execute(
        "UPDATE active_conversations SET attributes = coalesce(attributes, '{}'::jsonb)"
        " || jsonb_build_object($3::text, $4::bool) WHERE client_id = $1 AND id = $2",
        tenant_id,
        conversation_id,
        ATTRIBUTE,
        wish,
    )


class VoiceReplies:
    """Speaks replies with the tenant's speech vendor (waai.speech: OpenAI or Gemini)."""

    def __init__(self, clients: LLMClients, ai: AISettings, events: EventLog) -> None:
        self._clients = clients
        self._ai = ai
        self._events = events

    async def speak(
        self,
        output: ResponderOutput,
        tools_config: dict[str, Any],
        decrypt: Any,
        *,
        tenant_id: str,
        conversation_id: str,
        correlation_id: str | None,
    ) -> VoiceNote | None:
        """The reply as a voice note, or None to send it as text (never raises)."""
        if output.handover_reason or output.opt_out or output.options:
            return None
        text = "\n\n".join(m.strip() for m in output.messages if m.strip())
        if not text or len(text) > self._ai.tts_max_chars:
            SPOKEN.labels("too_long" if text else "empty").inc()
            return None
        vendor = speech_vendor(tools_config, self._ai)
        speaker = speaker_for(tools_config, self._ai, self._clients, decrypt) if vendor else None
        if speaker is None:
            SPOKEN.labels("no_key" if vendor else "unknown_provider").inc()
            log.warning("voice_reply_no_speaker", tenant_id=tenant_id, vendor=vendor)
            return None
        try:
            speech = await speaker.speak(_speakable(text))
        except SpeechFailed as exc:
            SPOKEN.labels("failed").inc()
            log.warning(
                "voice_reply_failed", tenant_id=tenant_id, vendor=speaker.vendor, error=exc.reason
            )
            return None
        SPOKEN.labels("spoken").inc()
        # metered as the other model costs: the price table prices the tokens (Gemini);
        # OpenAI reports none for speech, its usage is the characters read
        await self._events.append(
            tenant_id,
            ev.LLM_USAGE,
            {
                "model": speech.model,
                "tokens_in": speech.tokens_in,
                "tokens_out": speech.tokens_out,
                "purpose": "tts",
                "characters": len(text),
            },
            conversation_id=conversation_id,
            correlation_id=correlation_id,
        )
        return VoiceNote(text, speech.data)


def _settings(tools_config: dict[str, Any]) -> dict[str, Any] | None:
    """`voice_replies` as an object (`true` is `{}`), None when off."""
    cfg = tools_config.get(ATTRIBUTE)
    if cfg is True:
        return {}
    if not isinstance(cfg, dict) or not cfg.get("active", True):
        return None
    return cfg


def _speakable(text: str) -> str:
    """Text as it is read aloud: WhatsApp's *bold* and _italic_ marks are not spoken."""
    return re.sub(r"[*_~`]", "", text)
