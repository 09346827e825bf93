"""Replies beyond plain text, through the real pipeline: the model (fake OpenAI, real SDK)
asks for choices and a reaction, the rag-worker writes the outbox rows, the sender sends
them to the fake Graph (buttons, a list, a reaction) or Uazapi (numbered text, a reaction).
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import av
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from meta_gateway.admin.knowledge import knowledge_router
from meta_gateway.admin.reply_files import reply_files_router
from rag_worker.deps import RagDeps
from rag_worker.handlers import handle_burst_ready
from rag_worker.voice_reply import VoiceReplies
from sender.handlers import handle_send_reply
from tests.fakes import gemini_server as gm
from tests.fakes import openai_server as oa
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI, speech_bytes
from tests.fakes.server import serve_in_thread
from tests.fakes.uazapi import UazapiFakeState, create_app
from tests.integration.llm_helpers import Offline, StaticRetriever
from tests.integration.outbox_helpers import DELIVERY, worker
from tests.integration.test_media_ai import pdf_with_text
from waai.budget import USAGE_SQL, price_usage
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.retrieval import PgRetriever
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from waai.responders.offline import OfflineResponder
from waai.responders.responder import Responder, Tenant
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import (
    BurstReady,
    Contact,
    InboundMessage,
    MessageKind,
    Provider,
    SendReply,
    utcnow,
)
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.metrics.prices import default_prices
from wacommon.providers.meta.outbound import MetaGraphClient
from wacommon.providers.uazapi.outbound import UazapiClient
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories import reply_files
from wacommon.repositories.events import PgEventLog
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

BOX = SecretBox(None)
UAZ_TOKEN = "uaz-rich-token"
AUTH = {"Authorization": "Bearer test-admin-token"}
PNG = b"\x89PNG\r\n\x1a\n" + b"fake-price-table" * 20
RICH = {
    "send_files": True,
    "reply_options": True,
    "reactions": {"active": True, "instructions": "Reaja com 👍 quando o cliente escolher."},
    "llm_config": {"provider": "openai", "model": "gpt-test", "api_key": "sk-rich"},
}


@dataclass
class Fakes:
    graph: GraphState
    graph_url: str
    uazapi: UazapiFakeState
    uazapi_url: str
    openai: FakeOpenAI
    gemini: FakeGemini

    def ai(self) -> AISettings:
        """The deployment's AI settings: both vendors at their fakes."""
        return AISettings(openai_base_url=self.openai.base_url, gemini_base_url=self.gemini.url)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    graph = GraphState()
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


class Shop:
    """A tenant on one provider, one customer, the rag-worker and the sender wired to fakes."""

    def __init__(self, pool: asyncpg.Pool, fakes: Fakes, clients: LLMClients) -> None:
        self.pool, self.fakes, self.clients = pool, fakes, clients
        self.tenant_id = self.instance_id = self.conversation_id = ""
        self.provider = Provider.META
        self.phone = f"55119{uuid.uuid4().int % 10**8:08d}"
        self.publisher = FakePublisher()

    async def seed(self, provider: Provider, **tools: Any) -> Shop:
        self.provider = provider
        tenant = await clients_repo.create_client(
            self.pool,
            {"name": f"rich-{uuid.uuid4().hex[:6]}", "tools_config": {**RICH, **tools}},
        )
        self.tenant_id = str(tenant["id"])
        if provider is Provider.META:
            phone_id, token = str(uuid.uuid4().int % 10**15), f"EAA{uuid.uuid4().hex}"
            self.fakes.graph.tokens[phone_id] = token
            config: dict[str, Any] = {
                "phone_id": phone_id,
                "access_token": token,
                "waba_id": str(uuid.uuid4().int % 10**15),
                # one number, one tenant
                "display_phone_number": f"55119{uuid.uuid4().int % 10**8:08d}",
            }
        else:
            pacing = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}
            config = {"url": self.fakes.uazapi_url, "token": UAZ_TOKEN, "pacing": pacing}
        instance = await providers_repo.create_provider(
            self.pool,
            BOX,
            self.tenant_id,
            {"provider_type": provider.value, "config": config, "is_default": True},
        )
        self.instance_id = str(instance["id"])
        return self

    async def customer_says(
        self, text: str, kind: MessageKind = MessageKind.TEXT
    ) -> tuple[int, str]:
        at = utcnow()
        contact = Contact(key=self.phone, phone=self.phone, name="Ana")
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.tenant_id,
            contact,
            provider=self.provider.value,
            instance_id=self.instance_id,
            at=at,
            role="customer",
        )
        self.conversation_id = str(conv["id"])
        wamid = f"wamid.{uuid.uuid4().hex}"
        message_id = await msg_repo.store_inbound(
            self.pool,
            InboundMessage(
                provider=self.provider,
                instance_id=self.instance_id,
                tenant_id=self.tenant_id,
                contact=contact,
                provider_message_id=wamid,
                kind=kind,
                text=text,
                sent_at=at,
            ),
            self.conversation_id,
        )
        assert message_id is not None
        return message_id, wamid

    async def answer(
        self,
        message_id: int,
        http: httpx.AsyncClient,
        *,
        offline: bool = False,
        responder: Responder | None = None,
    ) -> None:
        """The rag-worker answers the burst (with `responder` when given), then the sender
        sends what it queued."""

        def responder_for(tenant: Tenant) -> Responder:
            if responder is not None:
                return responder
            if offline:
                return OfflineResponder(
                    PgRetriever(self.pool),
                    files=lambda cid: reply_files.list_files(self.pool, cid),
                )
            return build_responder(
                tenant,
                settings=self.fakes.ai(),
                retriever=StaticRetriever(),
                pool=self.pool,
                http=http,
                events=PgEventLog(self.pool),
                decrypt=BOX.decrypt,
                clients=self.clients,
                offline=Offline(),
            )

        ai = self.fakes.ai()
        events = PgEventLog(self.pool)
        deps = RagDeps(
            self.pool,
            self.publisher,
            events,
            BOX,
            responder_for,
            voice=VoiceReplies(self.clients, ai, events),
        )
        burst = BurstReady(
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            burst_id=uuid.uuid4().hex,
            message_ids=[message_id],
            first_message_at=utcnow(),
        )
        await handle_burst_ready(burst, DELIVERY, deps=deps)

    async def send(
        self, redis_client: aioredis.Redis, settings: Settings, http: httpx.AsyncClient
    ) -> None:
        clients = {
            "meta": MetaGraphClient(http, base_url=self.fakes.graph_url, version="v23.0"),
            "uazapi": UazapiClient(http),
        }
        sender = worker(self.pool, redis_client, settings, clients)
        for command in self.publisher.of_type(SendReply):
            await handle_send_reply(command, DELIVERY, deps=sender)

    async def outbox(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT kind, content, payload, status FROM chat_messages WHERE client_id = $1"
            " AND conversation_id = $2 AND direction = 'out' ORDER BY id",
            self.tenant_id,
            self.conversation_id,
        )


async def test_meta_buttons_and_a_reaction_reach_the_graph(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    message_id, wamid = await shop.customer_says("quero uma pizza")
    fakes.openai.queue(
        {
            "tool_calls": [
                ("offer_options", {"options": ["Pequena", "Média", "Grande"]}),
                ("react_to_message", {"emoji": "🍕"}),
            ]
        },
        oa.text("Qual tamanho você prefere?"),
    )
    await shop.answer(message_id, http)
    # the model saw both tools, with the tenant's instruction for the reaction
    first = fakes.openai.requests[-2]
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"offer_options", "react_to_message"} <= names
    assert "Reaja com 👍" in first["messages"][0]["content"]

    rows = await shop.outbox()
    assert [r["kind"] for r in rows] == ["interactive", "reaction"]
    assert rows[0]["content"] == "Qual tamanho você prefere?\n\n1. Pequena\n2. Média\n3. Grande"
    await shop.send(redis_client, settings, http)

    sent = [r.json or {} for r in fakes.graph.sent_messages(to=shop.phone)]
    assert [s["type"] for s in sent] == ["interactive", "reaction"]
    assert sent[0]["interactive"] == {
        "type": "button",
        "body": {"text": "Qual tamanho você prefere?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "opcao_1", "title": "Pequena"}},
                {"type": "reply", "reply": {"id": "opcao_2", "title": "Média"}},
                {"type": "reply", "reply": {"id": "opcao_3", "title": "Grande"}},
            ]
        },
    }
    assert sent[1]["reaction"] == {"message_id": wamid, "emoji": "🍕"}
    assert [r["status"] for r in await shop.outbox()] == ["sent", "sent"]


async def test_meta_many_long_options_become_a_list(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    message_id, _ = await shop.customer_says("quais os sabores?")
    flavours = ["Calabresa", "Margherita", "Quatro queijos com borda recheada de catupiry", "Atum"]
    fakes.openai.queue(
        oa.tool_call("offer_options", options=flavours, button="Sabores"),
        oa.text("Temos estes sabores:"),
    )
    await shop.answer(message_id, http)
    await shop.send(redis_client, settings, http)
    [sent] = [r.json or {} for r in fakes.graph.sent_messages(to=shop.phone)]
    interactive = sent["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Sabores"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == [
        "Calabresa",
        "Margherita",
        "Quatro queijos com borda",
        "Atum",
    ]
    assert rows[2]["description"] == flavours[2]


async def test_uazapi_gets_numbered_text_and_the_reaction(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    message_id, wamid = await shop.customer_says("quero agendar")
    fakes.openai.queue(
        {
            "tool_calls": [
                ("offer_options", {"options": ["Manhã", "Tarde"]}),
                ("react_to_message", {"emoji": "👍"}),
            ]
        },
        oa.text("Qual período?"),
    )
    await shop.answer(message_id, http)
    await shop.send(redis_client, settings, http)
    sends = [
        (r.path, r.body)
        for r in fakes.uazapi.requests
        if r.accepted and r.body.get("number") == shop.phone
    ]
    assert [path for path, _ in sends] == ["/send/text", "/message/react"]
    assert sends[0][1]["text"] == "Qual período?\n\n1. Manhã\n2. Tarde"
    assert (sends[1][1]["id"], sends[1][1]["text"]) == (wamid, "👍")
    assert [r["status"] for r in await shop.outbox()] == ["sent", "sent"]


async def test_a_bad_emoji_goes_back_to_the_model_and_nothing_is_queued(
    pool: asyncpg.Pool,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    message_id, _ = await shop.customer_says("obrigado")
    fakes.openai.queue(
        oa.tool_call("react_to_message", emoji="valeu"), oa.text("Por nada! Até mais.")
    )
    await shop.answer(message_id, http)
    assert fakes.openai.tool_results()[0]["error"] == "invalid_emoji"
    assert [r["kind"] for r in await shop.outbox()] == ["text"]


@pytest.fixture()
async def admin(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    syncs = FileSearchSyncs(AISettings(), BOX.decrypt)
    app.include_router(knowledge_router(settings, pool, file_search=syncs))
    app.include_router(reply_files_router(settings, pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_a_pdf_of_the_knowledge_base_is_sent_as_a_document_by_media_id(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
    admin: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    menu = pdf_with_text("Cardapio: pizza grande R$ 50")
    resp = await admin.post(
        f"/admin/clients/{shop.tenant_id}/documents",
        files={"file": ("cardapio.pdf", menu, "application/pdf")},
        headers=AUTH,
    )
    assert resp.status_code == 201, resp.text
    message_id, _ = await shop.customer_says("manda o cardapio por favor")
    fakes.openai.queue(oa.tool_call("send_file", name="Cardápio"), oa.text("Claro, segue!"))
    await shop.answer(message_id, http)
    rows = await shop.outbox()
    assert [(r["kind"], r["content"]) for r in rows] == [
        ("text", "Claro, segue!"),
        ("document", "cardapio.pdf"),
    ]
    await shop.send(redis_client, settings, http)

    sent = [r.json or {} for r in fakes.graph.sent_messages(to=shop.phone)]
    assert [s["type"] for s in sent] == ["text", "document"]
    document = sent[1]["document"]
    assert document["filename"] == "cardapio.pdf"
    # uploaded to /media first (as an attendant's file), sent by id: the original bytes
    assert fakes.graph.media[document["id"]] == (menu, "application/pdf")
    assert [r["status"] for r in await shop.outbox()] == ["sent", "sent"]


async def test_offline_bot_sends_the_named_image_to_uazapi(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
    admin: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    resp = await admin.post(
        f"/admin/clients/{shop.tenant_id}/files",
        files={"file": ("tabela-de-precos.png", PNG, "image/png")},
        data={"description": "tabela de preços dos serviços"},
        headers=AUTH,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["mime_type"] == "image/png" and resp.json()["size"] == len(PNG)
    message_id, _ = await shop.customer_says("me manda a tabela de preço?")
    await shop.answer(message_id, http, offline=True)
    rows = await shop.outbox()
    assert [r["kind"] for r in rows] == ["text", "image"]
    await shop.send(redis_client, settings, http)
    media = [
        r.body
        for r in fakes.uazapi.requests
        if r.path == "/send/media" and r.accepted and r.body.get("number") == shop.phone
    ]
    assert len(media) == 1 and media[0]["type"] == "image"
    assert base64.b64decode(media[0]["file"]) == PNG


async def test_offline_bot_sends_no_file_where_files_are_off(
    pool: asyncpg.Pool,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    # a PDF of the knowledge base keeps its bytes for every tenant; sending it is opt-in
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI, send_files=False)
    await reply_files.store_file(pool, shop.tenant_id, "cardapio.pdf", "application/pdf", PNG)
    message_id, _ = await shop.customer_says("manda o cardapio")
    await shop.answer(message_id, http, offline=True)
    assert [r["kind"] for r in await shop.outbox()] == ["text"]


async def test_the_files_route_refuses_what_whatsapp_cannot_send(
    pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, admin: httpx.AsyncClient
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    other = await Shop(pool, fakes, llm_clients).seed(Provider.META)
    url = f"/admin/clients/{shop.tenant_id}/files"
    resp = await admin.post(url, files={"file": ("virus.exe", b"MZ", "x")}, headers=AUTH)
    assert resp.status_code == 415
    big = b"\x89PNG" + b"0" * reply_files.IMAGE_MAX_BYTES
    resp = await admin.post(url, files={"file": ("big.png", big, "image/png")}, headers=AUTH)
    assert resp.status_code == 413
    resp = await admin.post(url, files={"file": ("ok.png", PNG, "image/png")}, headers=AUTH)
    file_id = resp.json()["id"]
    # another tenant's id answers 404
    gone = await admin.delete(f"/admin/clients/{other.tenant_id}/files/{file_id}", headers=AUTH)
    assert gone.status_code == 404
    listed = await admin.get(url, headers=AUTH)
    assert [f["name"] for f in listed.json()] == ["ok.png"]
    assert (await admin.delete(f"{url}/{file_id}", headers=AUTH)).status_code == 204


async def usage_events(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT data FROM conversation_events WHERE client_id = $1 AND event_type = 'llm_usage'",
        tenant_id,
    )
    return [dict(r["data"]) for r in rows]


async def send_voice_note(
    shop: Shop, redis_client: aioredis.Redis, settings: Settings, http: httpx.AsyncClient
) -> bytes:
    """The sender sends the queued reply to the fake Graph: one voice note, its Ogg bytes."""
    await shop.send(redis_client, settings, http)
    [sent] = [r.json or {} for r in shop.fakes.graph.sent_messages(to=shop.phone)]
    assert sent["type"] == "audio" and sent["audio"]["voice"] is True
    data, mime = shop.fakes.graph.media[sent["audio"]["id"]]
    assert mime == "audio/ogg"
    return data


async def test_a_voice_note_is_answered_with_a_voice_note_on_meta(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(
        Provider.META, voice_replies={"active": True, "voice": "nova"}
    )
    # a voice note, as ingest stores it once transcribed
    message_id, _ = await shop.customer_says("que horas vocês abrem?", MessageKind.AUDIO)
    answer = "Abrimos às *9h* e fechamos às 18h."
    fakes.openai.queue(oa.text(answer))
    await shop.answer(message_id, http)
    speech = fakes.openai.speeches[-1]
    assert (speech["model"], speech["voice"], speech["response_format"]) == (
        "gpt-4o-mini-tts",
        "nova",
        "opus",
    )
    assert speech["input"] == "Abrimos às 9h e fechamos às 18h."
    assert speech["_auth"] == "Bearer sk-rich"
    rows = await shop.outbox()
    # the text stays in the history; the row goes as a voice note
    shaped = "Abrimos às _9h_ e fechamos às 18h."  # as WhatsApp writes emphasis
    assert [(r["kind"], r["content"]) for r in rows] == [("audio", shaped)]
    usage = await usage_events(pool, shop.tenant_id)
    assert [(u["purpose"], u["characters"]) for u in usage] == [("tts", len(shaped))]
    # OpenAI reports no tokens for speech: the characters it read are what it bills
    assert usage[0]["tokens_in"] == len(speech["input"])
    month = await pool.fetch(USAGE_SQL, shop.tenant_id, utcnow() - timedelta(hours=1))
    [row] = [dict(r) for r in month if r["model"] == "gpt-4o-mini-tts"]
    usd = price_usage([row], default_prices())
    assert usd == Decimal(len(speech["input"])) * Decimal("16.67") / 1_000_000

    sent = await send_voice_note(shop, redis_client, settings, http)
    assert sent == speech_bytes("Abrimos às 9h e fechamos às 18h.")


async def test_a_contact_who_asks_for_audio_gets_voice_until_they_ask_for_text(
    pool: asyncpg.Pool,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(
        Provider.UAZAPI, voice_replies={"active": True}
    )
    message_id, _ = await shop.customer_says("pode mandar audio? to dirigindo")
    fakes.openai.queue(oa.text("Claro! Como posso ajudar?"))
    await shop.answer(message_id, http)
    message_id, _ = await shop.customer_says("qual o preço da pizza grande?")
    fakes.openai.queue(oa.text("A grande sai por R$ 50."))
    await shop.answer(message_id, http)
    message_id, _ = await shop.customer_says("pode escrever agora, obrigado")
    fakes.openai.queue(oa.text("Combinado!"))
    await shop.answer(message_id, http)
    rows = await shop.outbox()
    assert [r["kind"] for r in rows] == ["audio", "audio", "text"]
    stored = await pool.fetch(
        "SELECT o.mime_type, o.filename FROM outbound_media o JOIN chat_messages m"
        " ON m.id = o.message_id WHERE m.client_id = $1",
        shop.tenant_id,
    )
    assert [(s["mime_type"], s["filename"]) for s in stored] == [("audio/ogg", "resposta.ogg")] * 2


GEMINI_VOICE = {
    "llm_config": {"provider": "gemini", "model": "gemini-test", "api_key": "gm-tenant-key"},
    "voice_replies": {"active": True},
}


async def test_a_gemini_tenant_answers_a_voice_note_with_gemini_speech_in_ogg_opus(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    fakes: Fakes,
    llm_clients: LLMClients,
    http: httpx.AsyncClient,
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META, **GEMINI_VOICE)
    message_id, _ = await shop.customer_says("vocês entregam no centro?", MessageKind.AUDIO)
    fakes.gemini.queue(gm.text("Entregamos sim, *sem taxa* no centro."))
    spoken_before = len(fakes.gemini.speeches)
    await shop.answer(message_id, http)
    # one speech, asked of the TTS model with the tenant's key, audio out, the default voice
    [speech] = fakes.gemini.speeches[spoken_before:]
    spoken = "Entregamos sim, sem taxa no centro."
    assert speech["_model"] == "gemini-2.5-flash-preview-tts"
    assert (speech["text"], speech["voice"], speech["modalities"]) == (spoken, "Kore", ["AUDIO"])
    assert speech["_key"] == "gm-tenant-key"
    # the text stays in the history; the row goes as a voice note
    shaped = "Entregamos sim, _sem taxa_ no centro."
    assert [(r["kind"], r["content"]) for r in await shop.outbox()] == [("audio", shaped)]

    # metered with the tokens Gemini reported, which the price table turns into reais
    tokens_in, tokens_out = gm.speech_tokens(spoken)
    [usage] = [u for u in await usage_events(pool, shop.tenant_id) if u["purpose"] == "tts"]
    assert usage == {
        "model": "gemini-2.5-flash-preview-tts",
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "purpose": "tts",
        "characters": len(shaped),
    }
    month = await pool.fetch(USAGE_SQL, shop.tenant_id, utcnow() - timedelta(hours=1))
    [row] = [dict(r) for r in month if r["model"] == "gemini-2.5-flash-preview-tts"]
    usd = price_usage([row], default_prices())
    assert usd == (Decimal(tokens_in) * Decimal("0.50") + Decimal(tokens_out) * 10) / 1_000_000
    assert usd > 0

    data = await send_voice_note(shop, redis_client, settings, http)
    # a real Ogg/Opus file: the first page carries the Opus identification header, and it
    # decodes to the speech the fake produced (60 ms a character)
    assert data.startswith(b"OggS") and data[28:36] == b"OpusHead"
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
        samples = sum(frame.samples for frame in container.decode(audio=0))
    expected = len(gm.speech_pcm(spoken)) / 2 / gm.PCM_RATE
    assert abs(samples / 48000 - expected) < 0.03


@pytest.mark.parametrize("vendor", ["openai", "gemini"])
async def test_a_failed_speech_leaves_the_text_reply(
    vendor: str, pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, http: httpx.AsyncClient
) -> None:
    tools = GEMINI_VOICE if vendor == "gemini" else {"voice_replies": {"active": True}}
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.META, **tools)
    message_id, _ = await shop.customer_says("oi, tudo bem?", MessageKind.AUDIO)
    answer = "Tudo ótimo! Em que posso ajudar?"
    fake: FakeGemini | FakeOpenAI = fakes.openai
    if vendor == "gemini":
        fake = fakes.gemini
        fake.queue(gm.text(answer))
    else:
        fakes.openai.queue(oa.text(answer))
    spoken_before = len(fake.speeches)
    fake.speech_status = 500
    try:
        await shop.answer(message_id, http)
    finally:
        fake.speech_status = 200
    assert len(fake.speeches) == spoken_before + 1
    assert [(r["kind"], r["content"]) for r in await shop.outbox()] == [("text", answer)]
    assert [u for u in await usage_events(pool, shop.tenant_id) if u["purpose"] == "tts"] == []
