"""The pipeline's side of the console: notifications, owners' handover alerts, follow-ups."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import httpx
import redis.asyncio as aioredis

from rag_worker.handlers import handle_burst_ready
from sender.deps import SenderDeps
from sender.handlers import handle_send_reply
from sender.ratelimit import RateLimiter
from tests.fakes.server import serve_in_thread
from tests.integration.console_helpers import new_user
from tests.integration.inbox_helpers import conversation as inbox_conversation
from tests.integration.inbox_helpers import meta_tenant
from tests.integration.test_followups import PLAN, T0, conversation, outbound, scanner
from tests.integration.test_handover_pipeline import DELIVERY, Chat, says
from tests.integration.test_sender_recheck import RecordingClient
from wacommon.broker.notify import FakeNotifier
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import BurstReady, SendReply
from wacommon.conversation import state as cs
from wacommon.conversation.human_send import HumanReply, StoredFile, queue_human_reply
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.providers.meta.outbound import MetaGraphClient
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState


async def test_bot_handover_alerts_each_owner_once_and_notifies(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    chat = await Chat.start(
        pool, says("Vou chamar um atendente.", handover_reason="cliente pediu atendente")
    )
    await pool.execute(
        "UPDATE clients SET api_url = 'https://uaz.example', token = 'tok' WHERE id = $1",
        chat.tenant_id,
    )
    alerted = await new_user(pool, chat.tenant_id, "owner", name="Dona")
    await pool.execute(
        "UPDATE console_users SET alert_whatsapp = '5511911112222' WHERE id = $1", alerted["id"]
    )
    await new_user(pool, chat.tenant_id, "owner")  # no alert number
    agent = await new_user(pool, chat.tenant_id, "agent")
    await pool.execute(
        "UPDATE console_users SET alert_whatsapp = '5511933334444' WHERE id = $1", agent["id"]
    )
    notifier = FakeNotifier()
    chat.deps().notifier = notifier
    burst = await chat.burst(await chat.inbound("quero falar com uma pessoa"))

    rows = await chat.outbox()
    alerts = [r for r in rows if (r["payload"] or {}).get("alert_to")]
    assert len(alerts) == 1 and alerts[0]["payload"]["alert_to"] == "5511911112222"
    assert "Ana" in alerts[0]["content"] and "cliente pediu atendente" in alerts[0]["content"]
    kinds = [n["kind"] for n in notifier.sent]
    assert kinds.count("handover.requested") == 1
    assert kinds.count("message.created") == 1  # the bot's bubble
    handover = next(n for n in notifier.sent if n["kind"] == "handover.requested")
    assert handover["conversation_id"] == chat.conversation_id
    assert handover["cause"] == "cliente pediu atendente"
    assert alerts[0]["id"] in [s.outbound_id for s in chat.sends()]

    # the same burst again (a redelivery): no second alert
    again = BurstReady(
        tenant_id=burst.tenant_id,
        conversation_id=burst.conversation_id,
        burst_id=burst.burst_id,
        message_ids=burst.message_ids,
        first_message_at=burst.first_message_at,
    )
    await handle_burst_ready(again, DELIVERY, deps=chat.deps())
    rows = await chat.outbox()
    assert len([r for r in rows if (r["payload"] or {}).get("alert_to")]) == 1

    # the sender delivers it to the owner's number, not the customer's
    client = RecordingClient()
    deps = SenderDeps(
        pool=pool,
        secrets=SecretBox(None),
        clients={"uazapi": client},
        limiter=RateLimiter(redis_client, settings),
    )
    await handle_send_reply(
        SendReply(
            tenant_id=chat.tenant_id,
            conversation_id=chat.conversation_id,
            outbound_id=alerts[0]["id"],
            origin="system",
        ),
        DELIVERY,
        deps=deps,
    )
    assert [m.to for m in client.sent] == ["5511911112222"]
    assert client.read == []  # the customer's message is not marked read by an alert


async def test_a_console_reply_stops_followups_and_the_timeout_is_notified(
    pool: asyncpg.Pool,
) -> None:
    tenant_id, conv = await conversation(pool, plan=PLAN)
    async with pool.acquire() as conn:
        result = await queue_human_reply(
            conn,
            tenant_id,
            conv,
            user_id=str(uuid.uuid4()),
            key="k",
            reply=HumanReply(kind="text", text="Oi, sou a Ana"),
        )
    assert result is not None and result[2] == "human"
    row = await pool.fetchrow(
        "SELECT followup_due_at, state_until FROM active_conversations WHERE id = $1", conv
    )
    assert row["followup_due_at"] is None
    notifier = FakeNotifier()
    # past the pause the tenant configured: the bot resumes, no follow-up was armed
    await scanner(pool, FakePublisher(), notifier=notifier).run_once(
        max(T0, row["state_until"]) + timedelta(days=2)
    )
    assert await outbound(pool, tenant_id, conv) == []
    assert {
        "tenant_id": tenant_id,
        "conversation_id": conv,
        "kind": "conversation.updated",
        "state": "bot",
        "cause": "timeout",
    } in notifier.sent


async def test_an_attendants_file_is_uploaded_once_and_sent_by_media_id(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings, test_env: dict[str, str]
) -> None:
    box = SecretBox(test_env["ENCRYPTION_KEY"])
    tenant = await meta_tenant(pool, box)
    cid = await inbox_conversation(pool, tenant, phone="5511955554444")
    data = b"%PDF-1.4 orcamento"
    async with pool.acquire() as conn:
        result = await queue_human_reply(
            conn,
            tenant.id,
            cid,
            user_id=str(uuid.uuid4()),
            key="file",
            reply=HumanReply(
                kind="document",
                text="Segue o orçamento",
                file=StoredFile(data, "application/pdf", "orcamento.pdf"),
            ),
        )
    assert result is not None
    row_id = int(result[0]["id"])
    graph = GraphState(tokens={tenant.phone_id: tenant.token})
    with serve_in_thread(make_graph_app(graph)) as server:
        async with httpx.AsyncClient() as http:
            deps = SenderDeps(
                pool=pool,
                secrets=box,
                clients={"meta": MetaGraphClient(http, base_url=server.url, version="v23.0")},
                limiter=RateLimiter(redis_client, settings),
            )
            command = SendReply(
                tenant_id=tenant.id, conversation_id=cid, outbound_id=row_id, origin="human"
            )
            await handle_send_reply(command, DELIVERY, deps=deps)
            await handle_send_reply(command, DELIVERY, deps=deps)  # a redelivery
    uploads = [r for r in graph.requests if r.path.endswith("/media")]
    sent = graph.sent_messages(to="5511955554444")
    assert len(uploads) == 1 and len(sent) == 1
    document = (sent[0].json or {})["document"]
    stored = graph.media[document["id"]]
    assert stored == (data, "application/pdf")
    assert document["caption"] == "Segue o orçamento" and document["filename"] == "orcamento.pdf"
    row = await pool.fetchrow("SELECT status, payload FROM chat_messages WHERE id = $1", row_id)
    assert row["status"] == "sent" and row["payload"]["media_id"] == document["id"]


async def test_after_release_the_bot_sees_what_the_attendant_wrote(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(pool, says("Olá! Como posso ajudar?"), says("Anotado!"))
    await chat.burst(await chat.inbound("oi"))
    await chat.mark_outbox_sent()
    async with pool.acquire() as conn:
        result = await queue_human_reply(
            conn,
            chat.tenant_id,
            chat.conversation_id,
            user_id=str(uuid.uuid4()),
            key="h1",
            reply=HumanReply(kind="text", text="Seu pedido 123 sai amanhã cedo."),
        )
    assert result is not None and result[2] == "human"
    await chat.mark_outbox_sent()
    async with pool.acquire() as conn:
        assert await cs.resume(conn, chat.tenant_id, chat.conversation_id, cause="console")
    await chat.burst(await chat.inbound("e o frete?"))

    assert len(chat.responder.inputs) == 2
    history = chat.responder.inputs[1].history
    assert [(t.role, t.text) for t in history if t.role == "human"] == [
        ("human", "Seu pedido 123 sai amanhã cedo.")
    ]
