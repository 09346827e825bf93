"""Speech: which vendor and key speak for a tenant, Gemini's PCM read from its answer, and
the PCM encoded to an Ogg/Opus file WhatsApp plays as a voice note."""

from __future__ import annotations

import io
import math
import struct

import av
import pytest
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from tests.fakes.gemini_server import PCM_MIME, speech_pcm
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.ogg_opus import EncodeFailed, encode
from waai.speech import (
    GeminiSpeaker,
    OpenAISpeaker,
    SpeechFailed,
    pcm_of,
    speaker_for,
    speech_vendor,
)

AI = AISettings(
    openai_api_key="sk-global", gemini_api_key="gm-global", gemini_base_url="https://gm.example"
)
GEMINI_TENANT = {"llm_config": {"provider": "gemini", "api_key": "sealed:gm-tenant"}}
OPENAI_TENANT = {"llm_config": {"provider": "openai", "api_key": "sealed:sk-tenant"}}


def unseal(value: str) -> str:
    return value.removeprefix("sealed:")


class RecordingClients(LLMClients):
    """The real client cache, remembering which key and base URL each client was made for."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[tuple[str, str, str | None]] = []

    def openai(self, api_key: str, base_url: str | None = None) -> AsyncOpenAI:
        self.made.append(("openai", api_key, base_url))
        return super().openai(api_key, base_url)

    def gemini(self, api_key: str, base_url: str | None = None) -> genai.Client:
        self.made.append(("gemini", api_key, base_url))
        return super().gemini(api_key, base_url)


def test_the_vendor_follows_the_tenants_model_unless_voice_replies_names_one() -> None:
    assert speech_vendor(GEMINI_TENANT, AI) == "gemini"
    assert speech_vendor(OPENAI_TENANT, AI) == "openai"
    assert speech_vendor({"llm_config": {"provider": "openrouter"}}, AI) == "openai"
    # no llm_config: the deployment's provider
    assert speech_vendor({}, AISettings(llm_provider="gemini")) == "gemini"
    assert speech_vendor({}, AI) == "openai"
    assert speech_vendor({**OPENAI_TENANT, "voice_replies": {"provider": "Gemini"}}, AI) == "gemini"
    assert speech_vendor({**GEMINI_TENANT, "voice_replies": {"provider": "openai"}}, AI) == "openai"
    assert speech_vendor({"voice_replies": {"provider": "azure"}}, AI) is None


async def test_a_gemini_tenant_speaks_with_its_own_key_and_the_gemini_defaults() -> None:
    clients = RecordingClients()
    speaker = speaker_for({**GEMINI_TENANT, "voice_replies": True}, AI, clients, unseal)
    assert isinstance(speaker, GeminiSpeaker)
    assert (speaker.vendor, speaker.model) == ("gemini", "gemini-2.5-flash-preview-tts")
    assert clients.made == [("gemini", "gm-tenant", "https://gm.example")]
    await clients.aclose()


async def test_another_vendor_than_the_tenants_model_is_paid_by_the_deployment() -> None:
    clients = RecordingClients()
    tools = {**OPENAI_TENANT, "voice_replies": {"provider": "gemini", "model": "gemini-tts-x"}}
    speaker = speaker_for(tools, AI, clients, unseal)
    assert isinstance(speaker, GeminiSpeaker) and speaker.model == "gemini-tts-x"
    speaker = speaker_for(
        {**GEMINI_TENANT, "voice_replies": {"provider": "openai"}}, AI, clients, unseal
    )
    assert isinstance(speaker, OpenAISpeaker) and speaker.model == "gpt-4o-mini-tts"
    assert clients.made == [
        ("gemini", "gm-global", "https://gm.example"),
        ("openai", "sk-global", None),
    ]
    # no deployment key for the other vendor: nobody can pay for the speech
    assert speaker_for(tools, AISettings(), clients, unseal) is None
    await clients.aclose()


def test_a_tenant_base_url_its_replies_may_not_use_gets_no_speech_either() -> None:
    clients = RecordingClients()
    private = {"provider": "gemini", "api_key": "sealed:k", "base_url": "https://10.0.0.7"}
    assert speaker_for({"llm_config": private}, AI, clients, unseal) is None
    cleartext = {**private, "base_url": "http://gemini-proxy.example.com"}
    assert speaker_for({"llm_config": cleartext}, AI, clients, unseal) is None
    assert clients.made == []


def _answer(*parts: types.Part) -> types.GenerateContentResponse:
    return types.GenerateContentResponse(
        candidates=[types.Candidate(content=types.Content(role="model", parts=list(parts)))]
    )


def test_gemini_pcm_and_its_rate_come_from_the_audio_part() -> None:
    pcm = speech_pcm("oi")
    audio = types.Part(inline_data=types.Blob(mime_type=PCM_MIME, data=pcm))
    assert pcm_of(_answer(audio)) == (pcm, 24000)
    other_rate = types.Part(inline_data=types.Blob(mime_type="audio/L16;rate=16000", data=pcm))
    assert pcm_of(_answer(types.Part(text="..."), other_rate)) == (pcm, 16000)
    # a TTS model that answers text instead of audio has failed
    with pytest.raises(SpeechFailed) as failed:
        pcm_of(_answer(types.Part(text="Desculpe, não posso.")))
    assert failed.value.reason == "no_audio"


def _tone(seconds: float, rate: int) -> bytes:
    n = int(seconds * rate)
    return struct.pack(
        f"<{n}h", *(int(9000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(n))
    )


@pytest.mark.parametrize("rate", [24000, 16000, 48000])
def test_pcm_becomes_an_ogg_opus_file_of_the_same_length(rate: int) -> None:
    data = encode(_tone(1.5, rate), rate)
    assert data.startswith(b"OggS") and data[28:36] == b"OpusHead"
    # OpusHead: version 1, one channel, the input rate recorded
    assert data[36:38] == b"\x01\x01"
    assert struct.unpack("<I", data[40:44])[0] == rate
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.channels) == ("opus", 1)
        samples = sum(frame.samples for frame in container.decode(audio=0))
    # libopus decodes at 48 kHz
    assert abs(samples / 48000 - 1.5) < 0.03
    # 32 kbit/s: a second and a half in about 6 KB, far below the PCM
    assert len(data) < 12_000


def test_nothing_or_a_rate_opus_does_not_take_is_refused() -> None:
    with pytest.raises(EncodeFailed):
        encode(b"", 24000)
    with pytest.raises(EncodeFailed):
        encode(b"\x00", 24000)
    with pytest.raises(EncodeFailed):
        encode(_tone(0.1, 22050), 22050)
