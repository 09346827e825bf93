"""Voice notes and images through the rag-worker's burst handler: download, understand, reply.

The real MediaProcessor against fake Graph, Uazapi, OpenAI and Gemini servers on loopback,
with real Postgres; the responder is scripted so the test sees exactly what it was given.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rag_worker.deps import RagDeps
from rag_worker.handlers import handle_burst_ready
from rag_worker.media import MediaProcessor
from rag_worker.media_ai import POLITE_REPLIES
from tests.fakes import gemini_server as gm
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.hostile_pdfs import TRUNCATED_PDF, inflating_pdf
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import serve_in_thread
from tests.fakes.uazapi import UazapiFakeState, create_app
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.responders.responder import Responder, ResponderInput, ResponderOutput, Tenant
from wacommon.broker.consumer import Delivery
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import (
    BurstReady,
    Contact,
    InboundMessage,
    MediaRef,
    MessageKind,
    Provider,
    SendReply,
    utcnow,
)
from wacommon.infra.crypto import SecretBox
from wacommon.infra.errors import RetryableError
from wacommon.infra.netguard import public_only_client
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import PgEventLog
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

PHONE_ID, META_TOKEN = "444000444000444", "EAAmediaToken000000000000001"
UAZ_TOKEN = "uaz-media-token"
VOICE = b"OggS" + b"fake-opus-voice-note" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fake-jpeg-bytes\xff\xd9"
BOX = SecretBox(None)


@dataclass
class Fakes:
    graph: GraphState
    graph_url: str
    uazapi: UazapiFakeState
    uazapi_url: str
    openai: FakeOpenAI
    gemini: FakeGemini

    def downloads(self) -> int:
        """Media bytes fetched from either provider."""
        graph = [r for r in self.graph.requests if r.path.startswith("/media-download/")]
        uaz = [r for r in self.uazapi.requests if r.path == "/message/download"]
        return len(graph) + len(uaz)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    graph = GraphState(tokens={PHONE_ID: META_TOKEN})
    uazapi = UazapiFakeState({UAZ_TOKEN})
    with (
        serve_in_thread(make_graph_app(graph)) as graph_srv,
        serve_in_thread(create_app(uazapi)) as uaz_srv,
        FakeOpenAI.serve() as openai_fake,
        FakeGemini.serve() as gemini_fake,
    ):
        yield Fakes(graph, graph_srv.url, uazapi, uaz_srv.url, openai_fake, gemini_fake)


@pytest.fixture()
async def llm_clients() -> AsyncIterator[LLMClients]:
    clients = LLMClients(timeout_s=10, max_retries=0, trusted_hosts={"127.0.0.1"})
    yield clients
    await clients.aclose()


@dataclass
class Recorder:
    """A responder that answers one fixed text and records what it was given."""

    answer: str = "Entendi, já te ajudo."
    fail_first: bool = False
    inputs: list[ResponderInput] = field(default_factory=list)

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        self.inputs.append(inp)
        if self.fail_first and len(self.inputs) == 1:
            raise RetryableError("llm unavailable")
        return ResponderOutput(messages=[self.answer])

    def burst_texts(self, index: int = -1) -> list[str]:
        return [t.text for t in self.inputs[index].burst]


@dataclass
class Rig:
    """One tenant and one customer on one provider, and the handler wired to the fakes."""

    pool: asyncpg.Pool
    settings: Settings
    ai: AISettings
    http: httpx.AsyncClient
    clients: LLMClients
    tenant_id: str
    provider: Provider
    instance_id: str
    responder: Recorder = field(default_factory=Recorder)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    contact: Contact = field(
        default_factory=lambda: Contact(key=f"55119{uuid.uuid4().int % 10**8:08d}", name="Ana")
    )
    conversation_id: str = ""
    links: httpx.AsyncClient | None = None

    def deps(self) -> RagDeps:
        events = PgEventLog(self.pool)
        if self.links is None:
            # what rag-worker main does: provider links go through the guard, allow-list only
            self.links = public_only_client(self.ai.tool_allowed_hosts)

        def responder_for(tenant: Tenant) -> Responder:
            return self.responder

        media = MediaProcessor(
            self.pool, self.http, self.settings, self.ai, self.clients, BOX, events, self.links
        )
        return RagDeps(self.pool, self.publisher, events, BOX, responder_for, process_media=media)

    async def inbound(
        self, kind: MessageKind, media: MediaRef | None = None, text: str = ""
    ) -> int:
        """Store a message as ingest does (conversation upserted first)."""
        at = utcnow()
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.tenant_id,
            self.contact,
            provider=self.provider.value,
            instance_id=self.instance_id,
            at=at,
            role="customer",
        )
        self.conversation_id = str(conv["id"])
        msg = InboundMessage(
            provider=self.provider,
            instance_id=self.instance_id,
            tenant_id=self.tenant_id,
            contact=self.contact,
            provider_message_id=f"wamid.{uuid.uuid4().hex}",
            kind=kind,
            text=text,
            media=media,
            sent_at=at,
        )
        message_id = await msg_repo.store_inbound(self.pool, msg, self.conversation_id)
        assert message_id is not None
        return message_id

    async def burst(self, *ids: int, burst_id: str | None = None, retry_count: int = 0) -> None:
        msg = BurstReady(
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            burst_id=burst_id or uuid.uuid4().hex,
            message_ids=list(ids),
            first_message_at=utcnow(),
        )
        delivery = Delivery(
            redelivered=retry_count > 0, delivery_count=retry_count + 1, retry_count=retry_count
        )
        await handle_burst_ready(msg, delivery, deps=self.deps())

    async def row(self, message_id: int) -> dict[str, Any]:
        row = await msg_repo.get_message(self.pool, self.tenant_id, message_id)
        assert row is not None
        return row

    async def outbox(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT content FROM chat_messages WHERE client_id = $1 AND conversation_id = $2"
            " AND direction = 'out' ORDER BY id",
            self.tenant_id,
            self.conversation_id,
        )
        return [str(r["content"]) for r in rows]

    async def media_events(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1 AND conversation_id = $2"
            " AND event_type = 'media_processed' ORDER BY id",
            self.tenant_id,
            self.conversation_id,
        )
        return [dict(r["data"]) for r in rows]

    def sends(self) -> int:
        return len(self.publisher.of_type(SendReply))


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def ai_for(fakes: Fakes, **overrides: Any) -> AISettings:
    base: dict[str, Any] = {
        "openai_api_key": "sk-media-test",
        "openai_base_url": fakes.openai.base_url,
        "gemini_api_key": "gm-media-test",
        "gemini_base_url": fakes.gemini.url,
    }
    return AISettings(**{**base, **overrides})


async def new_rig(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    clients: LLMClients,
    provider: Provider = Provider.META,
    ai: AISettings | None = None,
    **settings_overrides: Any,
) -> Rig:
    fakes.openai.transcript_status = 200
    client = await clients_repo.create_client(pool, {"name": f"m-{uuid.uuid4().hex[:8]}"})
    tenant_id = str(client["id"])
    if provider is Provider.META:
        # one active owner per number: each tenant gets its own
        phone_id = f"4440{uuid.uuid4().int % 10**11:011d}"
        fakes.graph.tokens[phone_id] = META_TOKEN
        config: dict[str, Any] = {"phone_id": phone_id, "access_token": META_TOKEN}
    else:
        config = {"url": fakes.uazapi_url, "token": UAZ_TOKEN}
    instance = await providers_repo.create_provider(
        pool,
        BOX,
        tenant_id,
        {"provider_type": provider.value, "is_default": True, "config": config},
    )
    tuned = settings.model_copy(update={"meta_graph_url": fakes.graph_url, **settings_overrides})
    return Rig(
        pool, tuned, ai or ai_for(fakes), http, clients, tenant_id, provider, str(instance["id"])
    )


async def test_meta_voice_note_is_transcribed_and_answered(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients)
    fakes.openai.transcript_text = "Vocês abrem no sábado?"
    media_id = fakes.graph.add_media(VOICE, "audio/ogg; codecs=opus")
    calls = len(fakes.openai.transcriptions)
    voice = await rig.inbound(
        MessageKind.AUDIO,
        MediaRef(media_id=media_id, mime_type="audio/ogg; codecs=opus", voice=True),
    )

    await rig.burst(voice)

    fetched = [r for r in fakes.graph.requests if r.path.endswith(f"/{media_id}")]
    assert [r.path.split("/")[1] for r in fetched] == [
        settings.meta_graph_version,
        "media-download",
    ]
    assert all(r.headers["authorization"] == f"Bearer {META_TOKEN}" for r in fetched)
    sent = fakes.openai.transcriptions[calls:]
    assert len(sent) == 1 and sent[0]["size"] == len(VOICE)
    assert sent[0]["auth"] == "Bearer sk-media-test"
    assert (await rig.row(voice))["content"] == "Vocês abrem no sábado?"
    assert rig.responder.burst_texts() == ["Vocês abrem no sábado?"]
    assert rig.responder.inputs[0].burst[0].role == "customer"
    assert await rig.outbox() == ["Entendi, já te ajudo."]
    assert rig.sends() == 1
    assert await rig.media_events() == [
        {"kind": "audio", "ok": True, "seconds": 4, "model": rig.ai.transcribe_model}
    ]


async def test_meta_image_is_described_for_the_responder(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients)
    fakes.gemini.queue(gm.text("Comprovante de Pix de R$ 150,00 para Loja Sol."))
    media_id = fakes.graph.add_media(JPEG, "image/jpeg")
    image = await rig.inbound(
        MessageKind.IMAGE, MediaRef(media_id=media_id, mime_type="image/jpeg"), text="paguei"
    )

    await rig.burst(image)

    assert fakes.gemini.inline_images() == [("image/jpeg", JPEG)]
    assert fakes.gemini.requests[-1]["_key"] == "gm-media-test"
    (text,) = rig.responder.burst_texts()
    assert text == "paguei\n[imagem] Comprovante de Pix de R$ 150,00 para Loja Sol."
    assert (await rig.row(image))["content"] == text
    assert await rig.outbox() == ["Entendi, já te ajudo."]
    events = await rig.media_events()
    assert events == [{"kind": "image", "ok": True, "images": 1, "model": rig.ai.vision_model}]


async def test_uazapi_audio_is_downloaded_by_message_id(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients, provider=Provider.UAZAPI)
    fakes.openai.transcript_text = "Quero saber o preço da entrega."
    message_id = f"3EB0{uuid.uuid4().hex[:16].upper()}"
    fakes.uazapi.add_media(message_id, VOICE, "audio/ogg; codecs=opus")
    calls = len(fakes.openai.transcriptions)
    voice = await rig.inbound(MessageKind.AUDIO, MediaRef(media_id=message_id, voice=True))

    await rig.burst(voice)

    (asked,) = [
        r
        for r in fakes.uazapi.requests
        if r.path == "/message/download" and r.body.get("id") == message_id
    ]
    assert asked.headers["token"] == UAZ_TOKEN and asked.status == 200
    assert fakes.openai.transcriptions[calls]["size"] == len(VOICE)
    assert rig.responder.burst_texts() == ["Quero saber o preço da entrega."]
    assert await rig.outbox() == ["Entendi, já te ajudo."]


@pytest.mark.parametrize("cause", ["provider_500", "no_key"])
async def test_failed_transcription_asks_the_customer_to_write(
    cause: str,
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    no_key = ai_for(fakes, openai_api_key=None)
    rig = await new_rig(
        pool, settings, fakes, http, llm_clients, ai=no_key if cause == "no_key" else None
    )
    media_id = fakes.graph.add_media(VOICE, "audio/ogg")
    voice = await rig.inbound(MessageKind.AUDIO, MediaRef(media_id=media_id, voice=True))
    before = fakes.downloads()
    try:
        fakes.openai.transcript_status = 500
        await rig.burst(voice)
    finally:
        fakes.openai.transcript_status = 200

    assert rig.responder.inputs == []
    assert await rig.outbox() == [POLITE_REPLIES["audio"]]
    assert rig.sends() == 1
    (event,) = await rig.media_events()
    assert event["kind"] == "audio" and event["ok"] is False
    if cause == "no_key":
        assert event["reason"] == "no_transcription_key"
        assert fakes.downloads() == before  # nothing fetched that nobody could transcribe
    else:
        assert event["reason"].startswith("provider_error")
    stored = await rig.row(voice)
    assert stored["payload"]["media_processed"] is True
    assert stored["payload"]["polite_reply"] == POLITE_REPLIES["audio"]


async def test_media_over_the_size_cap_is_not_sent_to_openai(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients, media_max_bytes=len(VOICE) - 1)
    media_id = fakes.graph.add_media(VOICE, "audio/ogg")
    voice = await rig.inbound(MessageKind.AUDIO, MediaRef(media_id=media_id, voice=True))
    calls = len(fakes.openai.transcriptions)

    await rig.burst(voice)

    assert len(fakes.openai.transcriptions) == calls
    assert not [r for r in fakes.graph.requests if r.path == f"/media-download/{media_id}"]
    assert await rig.outbox() == [POLITE_REPLIES["audio"]]
    assert await rig.media_events() == [{"kind": "audio", "ok": False, "reason": "too_large"}]


async def test_text_with_failed_media_gets_a_normal_reply_with_a_note(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(
        pool, settings, fakes, http, llm_clients, ai=ai_for(fakes, gemini_api_key=None)
    )
    text = await rig.inbound(MessageKind.TEXT, text="olha a foto do defeito")
    image = await rig.inbound(
        MessageKind.IMAGE, MediaRef(media_id=fakes.graph.add_media(JPEG, "image/jpeg"))
    )

    await rig.burst(text, image)

    first, note = rig.responder.burst_texts()
    assert first == "olha a foto do defeito"
    assert note.startswith("[image não compreendido") and POLITE_REPLIES["image"] in note
    assert await rig.outbox() == ["Entendi, já te ajudo."]
    assert await rig.media_events() == [{"kind": "image", "ok": False, "reason": "no_vision_key"}]


async def test_transient_download_failure_retries_then_asks_on_the_last_attempt(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients)
    voice = await rig.inbound(
        MessageKind.AUDIO, MediaRef(media_id=fakes.graph.add_media(VOICE, "audio/ogg"))
    )
    burst_id = uuid.uuid4().hex
    fakes.graph.fail_next(1, "server_error", on="media_url")
    with pytest.raises(RetryableError):
        await rig.burst(voice, burst_id=burst_id)
    assert await rig.media_events() == []

    fakes.graph.fail_next(1, "server_error", on="media_url")
    await rig.burst(voice, burst_id=burst_id, retry_count=rig.settings.max_retries)

    assert await rig.outbox() == [POLITE_REPLIES["audio"]]
    assert await rig.media_events() == [
        {"kind": "audio", "ok": False, "reason": "download_unavailable"}
    ]


async def test_redelivered_burst_does_not_download_or_transcribe_twice(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    rig = await new_rig(pool, settings, fakes, http, llm_clients)
    rig.responder.fail_first = True
    fakes.openai.transcript_text = "Qual o valor da consulta?"
    voice = await rig.inbound(
        MessageKind.AUDIO, MediaRef(media_id=fakes.graph.add_media(VOICE, "audio/ogg"))
    )
    downloads, calls = fakes.downloads(), len(fakes.openai.transcriptions)
    burst_id = uuid.uuid4().hex
    with pytest.raises(RetryableError):  # the LLM failed after the voice note was transcribed
        await rig.burst(voice, burst_id=burst_id)

    await rig.burst(voice, burst_id=burst_id, retry_count=1)
    await rig.burst(voice, burst_id=burst_id, retry_count=2)  # after the reply: republished

    assert fakes.downloads() == downloads + 1
    assert len(fakes.openai.transcriptions) == calls + 1
    assert [rig.responder.burst_texts(i) for i in (0, 1)] == [["Qual o valor da consulta?"]] * 2
    assert len(rig.responder.inputs) == 2
    assert await rig.outbox() == ["Entendi, já te ajudo."]
    assert rig.sends() == 2
    assert len(await rig.media_events()) == 1


FETCHED: list[str] = []


async def _file(request: Request) -> Response:
    FETCHED.append(request.url.path)
    return Response(b"%PDF-1.4 internal secrets" * 50, media_type="application/pdf")


INTERNAL = Starlette(routes=[Route("/{path:path}", _file)])


async def test_a_lancepilot_media_url_to_an_internal_address_is_never_fetched(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    # the URL comes from the webhook: whoever can post one chooses what the worker fetches
    rig = await new_rig(pool, settings, fakes, http, llm_clients, provider=Provider.LANCEPILOT)
    with serve_in_thread(INTERNAL) as internal:
        FETCHED.clear()
        urls = [
            f"{internal.url}/latest/meta-data",
            f"https://127.0.0.1:{internal.port}/admin",
            "file:///etc/passwd",
        ]
        for url in urls:
            doc = await rig.inbound(
                MessageKind.DOCUMENT, MediaRef(url=url, mime_type="application/pdf")
            )
            await rig.burst(doc)
        assert FETCHED == []
    assert await rig.outbox() == [POLITE_REPLIES["document"]] * 3
    reasons = [e["reason"] for e in await rig.media_events()]
    assert reasons == ["download_failed: MediaDownloadFailed"] * 3


async def test_a_lancepilot_media_url_is_streamed_and_capped(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    # the operator's allow-list (tests name their loopback fakes) is the only way to loopback
    ai = ai_for(fakes, tool_allowed_hosts=frozenset({"127.0.0.1"}))
    rig = await new_rig(
        pool,
        settings,
        fakes,
        http,
        llm_clients,
        provider=Provider.LANCEPILOT,
        ai=ai,
        media_max_bytes=100,
    )
    with serve_in_thread(INTERNAL) as internal:
        FETCHED.clear()
        doc = await rig.inbound(
            MessageKind.DOCUMENT, MediaRef(url=f"{internal.url}/f.pdf", mime_type="application/pdf")
        )
        await rig.burst(doc)
        assert FETCHED == ["/f.pdf"]
    assert await rig.media_events() == [{"kind": "document", "ok": False, "reason": "too_large"}]


@pytest.mark.parametrize("shape", ["inflating", "truncated", "not_pdf_inside"])
async def test_an_unreadable_pdf_from_a_customer_gets_the_polite_reply(
    shape: str,
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    # bounds of the test's size, so the bomb hits them at once rather than at the defaults
    rig = await new_rig(
        pool,
        settings,
        fakes,
        http,
        llm_clients,
        parse_timeout_s=5.0,
        parse_max_memory_bytes=256 * 1024 * 1024,
    )
    data = {
        "inflating": inflating_pdf(30),
        "truncated": TRUNCATED_PDF,
        "not_pdf_inside": b"%PDF-1.7\n" + bytes(range(256)) * 64,
    }[shape]
    media_id = fakes.graph.add_media(data, "application/pdf")
    doc = await rig.inbound(
        MessageKind.DOCUMENT, MediaRef(media_id=media_id, mime_type="application/pdf")
    )

    await rig.burst(doc)  # no exception: nothing to retry, nothing dead-lettered

    assert rig.responder.inputs == []
    assert await rig.outbox() == [POLITE_REPLIES["document"]]
    (event,) = await rig.media_events()
    assert event["kind"] == "document" and event["ok"] is False
    assert event["reason"] in {"unreadable", "no_text"}


async def test_model_and_transcript_text_postgres_refuses_is_cleaned_not_retried(
    pool: asyncpg.Pool,
    settings: Settings,
    fakes: Fakes,
    http: httpx.AsyncClient,
    llm_clients: LLMClients,
) -> None:
    # a transcript or a model answer is text the service did not write: a prompt-injected
    # customer can make a model emit U+0000, which no text column takes
    rig = await new_rig(pool, settings, fakes, http, llm_clients)
    rig.responder.answer = "Claro\u0000, já te ajudo \ud83d."
    previous = fakes.openai.transcript_text
    fakes.openai.transcript_text = "Vocês \u0000abrem?"
    media_id = fakes.graph.add_media(VOICE, "audio/ogg; codecs=opus")
    voice = await rig.inbound(
        MessageKind.AUDIO,
        MediaRef(media_id=media_id, mime_type="audio/ogg; codecs=opus", voice=True),
    )
    try:
        await rig.burst(voice)
    finally:
        fakes.openai.transcript_text = previous

    assert (await rig.row(voice))["content"] == "Vocês abrem?"
    assert await rig.outbox() == ["Claro, já te ajudo \ufffd."]
    assert rig.sends() == 1
