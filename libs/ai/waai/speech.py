"""Text to speech behind one port: OpenAI `audio/speech` or a Gemini TTS model, Ogg/Opus out.

The vendor is the tenant's `voice_replies.provider` ("openai" or "gemini"), else Gemini when
the tenant's model is Gemini (its `llm_config.provider`, else LLM_PROVIDER), else OpenAI. The
key is the tenant's own when its model is of that vendor, else the deployment's; every call
goes through the guarded clients (waai.llm.clients) like the replies themselves.

OpenAI answers Ogg/Opus itself (`response_format: opus`). Gemini answers raw PCM (an
`inlineData` part, mime type `audio/L16;codec=pcm;rate=24000`, 16-bit little-endian mono),
encoded here to Ogg/Opus (waai.ogg_opus). Gemini reports the tokens in and out
(`usageMetadata`), which the price table prices; OpenAI reports none for speech and bills
the characters read, which are metered as tokens in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import AsyncOpenAI
from pydantic import ValidationError

from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, LLMConfigInvalid, llm_config
from waai.llm.errors import TRANSPORT_ERRORS
from waai.ogg_opus import EncodeFailed, to_ogg_opus

Vendor = Literal["openai", "gemini"]
# Gemini's PCM when the mime type names no rate
GEMINI_PCM_RATE = 24000
_RATE = re.compile(r"rate=(\d+)")
# no answer, or an answer the SDK could not read
_UNREACHABLE: tuple[type[Exception], ...] = (TimeoutError, ValidationError, *TRANSPORT_ERRORS)


@dataclass(frozen=True)
class Speech:
    """A text spoken: Ogg/Opus bytes, and the usage to meter (model, tokens)."""

    data: bytes
    model: str
    tokens_in: int = 0
    tokens_out: int = 0


class SpeechFailed(Exception):
    """No audio: the vendor was unreachable or refused, answered no audio, or encoding failed.

    `reason` is a short code for logs.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Speaker(Protocol):
    """Speaks a text with one vendor's model and voice."""

    vendor: Vendor
    model: str

    async def speak(self, text: str) -> Speech: ...


class OpenAISpeaker:
    """OpenAI `audio/speech`, Ogg/Opus straight from the API."""

    vendor: Vendor = "openai"

    def __init__(self, client: AsyncOpenAI, model: str, voice: str) -> None:
        self._client = client
        self.model = model
        self._voice = voice

    async def speak(self, text: str) -> Speech:
        try:
            response = await self._client.audio.speech.create(
                model=self.model, voice=self._voice, input=text, response_format="opus"
            )
        except openai.OpenAIError as exc:
            raise SpeechFailed(type(exc).__name__) from exc
        if not response.content:
            raise SpeechFailed("no_audio")
        # the API reports no tokens for speech: it bills the characters read, metered as
        # tokens in so the price table (per million characters for these models) prices them
        return Speech(response.content, self.model, tokens_in=len(text))


class GeminiSpeaker:
    """A Gemini TTS model (`generateContent`, audio out, a prebuilt voice), PCM to Ogg/Opus."""

    vendor: Vendor = "gemini"

    def __init__(self, client: genai.Client, model: str, voice: str) -> None:
        self._client = client
        self.model = model
        self._voice = voice

    async def speak(self, text: str) -> Speech:
        config = types.GenerateContentConfig(
            response_modalities=["AUDIO"],
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=self._voice)
                )
            ),
        )
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=text, config=config
            )
        except genai_errors.APIError as exc:
            raise SpeechFailed(f"http_{exc.code}") from exc
        except _UNREACHABLE as exc:
            raise SpeechFailed(type(exc).__name__) from exc
        pcm, rate = pcm_of(response)
        try:
            data = await to_ogg_opus(pcm, rate)
        except EncodeFailed as exc:
            raise SpeechFailed("encode_failed") from exc
        meta = response.usage_metadata
        return Speech(
            data,
            self.model,
            tokens_in=(meta.prompt_token_count or 0) if meta else 0,
            tokens_out=(meta.candidates_token_count or 0) if meta else 0,
        )


def pcm_of(response: types.GenerateContentResponse) -> tuple[bytes, int]:
    """The PCM and its sample rate from the first audio part of the answer."""
    for candidate in response.candidates or []:
        for part in (candidate.content.parts if candidate.content else None) or []:
            inline = part.inline_data
            mime = (inline.mime_type or "").lower() if inline else ""
            if inline and inline.data and mime.startswith(("audio/l16", "audio/pcm")):
                found = _RATE.search(mime)
                return inline.data, int(found.group(1)) if found else GEMINI_PCM_RATE
    raise SpeechFailed("no_audio")


def speech_vendor(tools_config: Mapping[str, Any], ai: AISettings) -> Vendor | None:
    """The vendor that speaks for this tenant; None when `voice_replies.provider` is unknown."""
    asked = _voice_config(tools_config).get("provider")
    if asked:
        name = str(asked).strip().lower()
        return "gemini" if name == "gemini" else "openai" if name == "openai" else None
    return "gemini" if _tenant_vendor(tools_config, ai) == "gemini" else "openai"


def speaker_for(
    tools_config: Mapping[str, Any],
    ai: AISettings,
    clients: LLMClients,
    decrypt: Callable[[str], str],
) -> Speaker | None:
    """The tenant's speaker (vendor, key, model, voice), or None when no key can pay for it."""
    vendor = speech_vendor(tools_config, ai)
    if vendor is None:
        return None
    cfg = _voice_config(tools_config)
    key, base_url = _key(vendor, tools_config, ai, decrypt)
    if not key:
        return None
    if vendor == "gemini":
        model = str(cfg.get("model") or ai.gemini_tts_model)
        voice = str(cfg.get("voice") or ai.gemini_tts_voice)
        return GeminiSpeaker(clients.gemini(key, base_url), model, voice)
    model = str(cfg.get("model") or ai.tts_model)
    voice = str(cfg.get("voice") or ai.tts_voice)
    return OpenAISpeaker(clients.openai(key, base_url), model, voice)


def _key(
    vendor: Vendor,
    tools_config: Mapping[str, Any],
    ai: AISettings,
    decrypt: Callable[[str], str],
) -> tuple[str | None, str | None]:
    """The tenant's key and base URL when its model is of `vendor`, else the deployment's.

    The tenant's are read as its replies read them (`llm_config`: the key opened, a base URL
    that is not https or points into a private network refused); a configuration that
    cannot work gives no key.
    """
    llm = tools_config.get("llm_config")
    if (
        isinstance(llm, Mapping)
        and llm.get("api_key")
        and _tenant_vendor(tools_config, ai) == vendor
    ):
        try:
            config = llm_config(tools_config, ai, decrypt)
        except LLMConfigInvalid:
            return None, None
        return config.api_key, config.base_url
    if vendor == "gemini":
        return ai.gemini_api_key, ai.gemini_base_url
    return ai.openai_api_key, ai.openai_base_url


def _tenant_vendor(tools_config: Mapping[str, Any], ai: AISettings) -> str:
    llm = tools_config.get("llm_config")
    named = llm.get("provider") if isinstance(llm, Mapping) else None
    return str(named or ai.llm_provider).strip().lower()


def _voice_config(tools_config: Mapping[str, Any]) -> Mapping[str, Any]:
    cfg = tools_config.get("voice_replies")
    return cfg if isinstance(cfg, Mapping) else {}
