"""Voice notes, images and PDFs to text, through the real SDKs against the fakes."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from rag_worker.media_ai import (
    MediaUnprocessable,
    describe_image,
    extract_pdf_text,
    ogg_opus_seconds,
    transcribe_audio,
)
from tests.fakes import gemini_server as gm
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from waai.llm.clients import LLMClients

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fake-jpeg-bytes\xff\xd9"


def ogg_opus(seconds: float, pre_skip: int = 312) -> bytes:
    """A minimal Ogg Opus stream: an OpusHead page and a last page whose granule ends it."""

    def page(granule: int, payload: bytes) -> bytes:
        return (
            b"OggS"
            + struct.pack("<BBqIIIB", 0, 0, granule, 1, 0, 0, 1)
            + bytes([len(payload)])
            + payload
        )

    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)
    return page(0, head) + page(0, b"OpusTags") + page(int(seconds * 48000) + pre_skip, b"x" * 40)


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as server:
        yield server


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini.serve() as server:
        yield server


def test_ogg_opus_duration_from_the_last_granule() -> None:
    assert ogg_opus_seconds(ogg_opus(7.5)) == pytest.approx(7.5)
    assert ogg_opus_seconds(b"ID3 not an ogg") is None


async def test_voice_note_is_transcribed(openai_fake: FakeOpenAI, clients: LLMClients) -> None:
    openai_fake.transcript_text = "Oi, vocês abrem sábado?"
    audio = ogg_opus(7.5)
    client = clients.openai("sk-audio", openai_fake.base_url)
    got = await transcribe_audio(
        client, audio, "voice", "audio/ogg; codecs=opus", "gpt-4o-mini-transcribe"
    )
    assert got.text == "Oi, vocês abrem sábado?"
    assert got.seconds == pytest.approx(7.5)
    sent = openai_fake.transcriptions[-1]
    assert sent["model"] == "gpt-4o-mini-transcribe" and sent["language"] == "pt"
    assert sent["filename"] == "voice.ogg" and sent["size"] == len(audio)
    assert sent["content_type"].startswith("audio/ogg") and sent["auth"] == "Bearer sk-audio"


async def test_duration_from_the_provider_when_the_file_does_not_say(
    openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    client = clients.openai("sk-audio", openai_fake.base_url)
    got = await transcribe_audio(client, b"\x00" * 100, "a.mp3", "audio/mpeg", "whisper-1")
    assert got.seconds == 4


async def test_audio_caps_and_failures_ask_the_customer_to_write(
    openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    client = clients.openai("sk-audio", openai_fake.base_url)
    calls = len(openai_fake.transcriptions)
    with pytest.raises(MediaUnprocessable) as too_long:
        await transcribe_audio(client, ogg_opus(700), "v.ogg", "audio/ogg", "m", max_seconds=600)
    assert too_long.value.reason == "too_long"
    with pytest.raises(MediaUnprocessable) as known_long:
        await transcribe_audio(client, b"abc", "v.ogg", "audio/ogg", "m", seconds=900)
    assert known_long.value.reason == "too_long"
    with pytest.raises(MediaUnprocessable) as too_big:
        await transcribe_audio(client, b"x" * 2000, "v.ogg", "audio/ogg", "m", max_bytes=1000)
    assert too_big.value.reason == "too_large"
    assert len(openai_fake.transcriptions) == calls  # nothing sent for what breaks a cap
    openai_fake.transcript_status = 500
    try:
        with pytest.raises(MediaUnprocessable) as failed:
            await transcribe_audio(client, ogg_opus(3), "v.ogg", "audio/ogg", "m")
    finally:
        openai_fake.transcript_status = 200
    assert failed.value.kind == "audio" and failed.value.reason.startswith("provider_error")
    assert "escrever" in failed.value.polite_reply


async def test_image_is_described_with_the_image_inline(
    gemini_fake: FakeGemini, clients: LLMClients
) -> None:
    gemini_fake.queue(gm.text("Comprovante de Pix de R$ 150,00 para Clínica Sorriso."))
    client = clients.gemini("gemini-key", gemini_fake.url)
    got = await describe_image(client, JPEG, "image/jpeg", "gemini-vision-test")
    assert got == "Comprovante de Pix de R$ 150,00 para Clínica Sorriso."
    assert gemini_fake.inline_images() == [("image/jpeg", JPEG)]
    request = gemini_fake.requests[-1]
    assert request["_model"] == "gemini-vision-test" and request["_key"] == "gemini-key"
    texts = [p["text"] for c in request["contents"] for p in c["parts"] if "text" in p]
    assert texts and "Descreva" in texts[0]


async def test_image_caps_and_failures(gemini_fake: FakeGemini, clients: LLMClients) -> None:
    client = clients.gemini("gemini-key", gemini_fake.url)
    with pytest.raises(MediaUnprocessable) as too_big:
        await describe_image(client, JPEG, "image/jpeg", "m", max_bytes=10)
    assert too_big.value.reason == "too_large"
    with pytest.raises(MediaUnprocessable) as not_image:
        await describe_image(client, JPEG, "application/pdf", "m")
    assert not_image.value.reason == "unsupported"
    gemini_fake.queue(gm.error(503))
    with pytest.raises(MediaUnprocessable) as failed:
        await describe_image(client, JPEG, "image/jpeg", "m")
    assert failed.value.kind == "image" and "imagem" in failed.value.polite_reply


async def test_pdf_text_is_extracted() -> None:
    text = await extract_pdf_text(pdf_with_text("Horario de funcionamento: 9h as 18h"))
    assert "Horario de funcionamento: 9h as 18h" in text
    with pytest.raises(MediaUnprocessable) as not_pdf:
        await extract_pdf_text(b"PK\x03\x04 a zip")
    assert not_pdf.value.reason == "not_a_pdf"
    with pytest.raises(MediaUnprocessable) as broken:
        await extract_pdf_text(b"%PDF-1.4\n garbage")
    assert broken.value.kind == "document" and broken.value.reason in {"unreadable", "no_text"}
