"""Media understood as text: voice notes transcribed, images described, PDF text extracted."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import openai
import structlog
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import AsyncOpenAI

from waai.knowledge.pdf_text import read_pdf
from waai.llm.errors import TRANSPORT_ERRORS
from wacommon.infra.sandbox import ParseFailed, ParseLimits

log = structlog.get_logger(__name__)

MediaKind = Literal["audio", "image", "document"]

DEFAULT_IMAGE_PROMPT = (
    "Descreva esta imagem em português, em poucas frases, para um atendente que não pode vê-la."
    " Transcreva qualquer texto visível (valores, códigos, nomes) exatamente como aparece."
)
POLITE_REPLIES: dict[MediaKind, str] = {
    "audio": "Desculpe, não consegui ouvir o seu áudio. Pode escrever a sua mensagem, por favor?",
    "image": "Desculpe, não consegui ver a sua imagem. Pode me descrever por escrito, por favor?",
    "document": "Desculpe, não consegui ler o seu arquivo. Pode escrever o que precisa, por favor?",
}


class MediaUnprocessable(Exception):
    """Media that could not be turned into text; the customer is asked to write instead."""

    def __init__(self, kind: MediaKind, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason

    @property
    def polite_reply(self) -> str:
        """What to tell the customer."""
        return POLITE_REPLIES[self.kind]


_VISION_FAILURES: tuple[type[Exception], ...] = (genai_errors.APIError, *TRANSPORT_ERRORS)


@dataclass(frozen=True)
class Transcript:
    """The text of a voice note and its length (None when neither the caller nor the file said)."""

    text: str
    seconds: float | None


async def transcribe_audio(
    client: AsyncOpenAI,
    data: bytes,
    filename: str,
    mime: str,
    model: str,
    *,
    language: str | None = "pt",
    seconds: float | None = None,
    max_bytes: int = 16 * 1024 * 1024,
    max_seconds: float = 600.0,
) -> Transcript:
    """Transcribe audio with OpenAI (multipart upload); caps size and duration first."""
    if not data:
        raise MediaUnprocessable("audio", "empty")
    if len(data) > max_bytes:
        raise MediaUnprocessable("audio", "too_large")
    duration = seconds if seconds is not None else ogg_opus_seconds(data)
    if duration is not None and duration > max_seconds:
        raise MediaUnprocessable("audio", "too_long")
    try:
        if language:
            result = await client.audio.transcriptions.create(
                model=model, file=(_filename(filename, mime), data, mime), language=language
            )
        else:
            result = await client.audio.transcriptions.create(
                model=model, file=(_filename(filename, mime), data, mime)
            )
    except openai.OpenAIError as exc:
        raise MediaUnprocessable("audio", f"provider_error: {type(exc).__name__}") from exc
    text = (getattr(result, "text", None) if not isinstance(result, str) else result) or ""
    if not text.strip():
        raise MediaUnprocessable("audio", "no_speech")
    usage = getattr(result, "usage", None)
    if duration is None and getattr(usage, "type", None) == "duration":
        duration = float(usage.seconds)  # type: ignore[union-attr]
    return Transcript(text=text.strip(), seconds=duration)


async def describe_image(
    client: genai.Client,
    data: bytes,
    mime: str,
    model: str,
    prompt: str = DEFAULT_IMAGE_PROMPT,
    *,
    max_bytes: int = 8 * 1024 * 1024,
) -> str:
    """Describe an image with Gemini vision (the image sent inline)."""
    if not data:
        raise MediaUnprocessable("image", "empty")
    if len(data) > max_bytes:
        raise MediaUnprocessable("image", "too_large")
    if not mime.startswith("image/"):
        raise MediaUnprocessable("image", "unsupported")
    try:
        resp = await client.aio.models.generate_content(
            model=model, contents=[types.Part.from_bytes(data=data, mime_type=mime), prompt]
        )
    except _VISION_FAILURES as exc:
        raise MediaUnprocessable("image", f"provider_error: {type(exc).__name__}") from exc
    text = resp.text or ""
    if not text.strip():
        raise MediaUnprocessable("image", "no_description")
    return text.strip()


async def extract_pdf_text(
    data: bytes,
    *,
    max_pages: int = 30,
    max_chars: int = 20000,
    limits: ParseLimits | None = None,
) -> str:
    """The text of a PDF's first pages, parsed in a bounded child process.

    Any failure (malformed, too slow, too big, a parser error of any kind) is the
    permanent "unreadable": the customer is asked to write, nothing is retried.
    A scanned PDF without text is unprocessable too.
    """
    if not data.startswith(b"%PDF"):
        raise MediaUnprocessable("document", "not_a_pdf")
    try:
        pdf = await read_pdf(
            data, max_pages=max_pages, max_chars=max_chars, limits=limits or ParseLimits()
        )
    except ParseFailed as exc:
        log.warning("pdf_unreadable", cause=exc.reason, size=len(data))
        raise MediaUnprocessable("document", "unreadable") from exc
    text = "\n\n".join(p.strip() for p in pdf.pages if p.strip())[:max_chars]
    if not text.strip():
        raise MediaUnprocessable("document", "no_text")
    return text


def ogg_opus_seconds(data: bytes) -> float | None:
    """Duration of an Ogg Opus file from its last page's granule position; None if not one."""
    if not data.startswith(b"OggS") or b"OpusHead" not in data[:200]:
        return None
    head = data.find(b"OpusHead")
    last = data.rfind(b"OggS")
    if last < 0 or len(data) < last + 14 or len(data) < head + 12:
        return None
    granule = int(struct.unpack_from("<q", data, last + 6)[0])
    pre_skip = int(struct.unpack_from("<H", data, head + 10)[0])
    if granule <= 0:
        return None
    return max(0.0, (granule - pre_skip) / 48000)


def _filename(name: str, mime: str) -> str:
    """A filename with an extension the transcription API accepts (it sniffs by extension)."""
    if "." in name.rsplit("/", 1)[-1]:
        return name
    ext = {
        "audio/ogg": "ogg",
        "audio/mpeg": "mp3",
        "audio/mp4": "m4a",
        "audio/wav": "wav",
        "audio/webm": "webm",
        "audio/aac": "m4a",
        "audio/amr": "amr",
    }.get(mime.split(";")[0].strip().lower(), "ogg")
    return f"{name or 'audio'}.{ext}"
