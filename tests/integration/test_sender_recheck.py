"""The sender re-checks the conversation right before a send: a human took over -> dropped."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from sender.deps import SenderDeps
from sender.handlers import handle_send_reply
from sender.ratelimit import RateLimiter
from wacommon.broker.consumer import Delivery
from wacommon.broker.schemas import Contact, SendReply, utcnow
from wacommon.conversation import state as cs
from wacommon.conversation.followups import cancel_followups
from wacommon.conversation.human_send import HumanReply, queue_human_reply
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import OutboundMessage, SendResult
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo

DELIVERY = Delivery(redelivered=False, delivery_count=1, retry_count=0)


class RecordingClient:
    """A ProviderClient that accepts every message and remembers it."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.read: list[str] = []

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=f"msg-{uuid.uuid4().hex[:12]}")

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        self.read.append(provider_message_id)


class Outbox:
    """A tenant with legacy Uazapi credentials, one conversation, and the sender's deps."""

    def __init__(self, pool: asyncpg.Pool, deps: SenderDeps, client: RecordingClient) -> None:
        self.pool, self.deps, self.client = pool, deps, client
        self.tenant_id = ""
        self.conversation_id = ""

    async def seed(self) -> None:
        tenant = await clients_repo.create_client(
            self.pool,
            {"name": "s", "api_url": "https://uaz.example", "token": uuid.uuid4().hex},
        )
        self.tenant_id = str(tenant["id"])
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.tenant_id,
            Contact(key=f"55119{uuid.uuid4().int % 10**8:08d}"),
            provider="uazapi",
            instance_id=None,
            at=utcnow(),
            role="customer",
        )
        self.conversation_id = str(conv["id"])

    async def write(self, text: str, origin: str) -> int:
        """An outbox row as the rag-worker or the followup service writes it."""
        row_id = await msg_repo.insert_outbound(
            self.pool,
            self.tenant_id,
            self.conversation_id,
            provider="uazapi",
            instance_id=None,
            role="bot",
            kind="text",
            content=text,
            payload={"origin": origin},
            idempotency_key=f"test:{uuid.uuid4().hex}",
        )
        assert row_id is not None
        return row_id

    async def send(self, row_id: int, origin: Any) -> None:
        msg = SendReply(
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            outbound_id=row_id,
            origin=origin,
        )
        await handle_send_reply(msg, DELIVERY, deps=self.deps)

    async def status(self, row_id: int) -> str:
        row = await msg_repo.get_message(self.pool, self.tenant_id, row_id)
        assert row is not None
        return str(row["status"])

    async def dropped_events(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1 AND conversation_id = $2"
            " AND event_type = 'reply_dropped' ORDER BY id",
            self.tenant_id,
            self.conversation_id,
        )
        return [dict(r["data"]) for r in rows]

    async def human_takes_over(self) -> None:
        async with self.pool.acquire() as conn:
            assert await cs.handover(
                conn, self.tenant_id, self.conversation_id, cause="human_reply", until=None
            )


@pytest.fixture()
async def outbox(pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings) -> Outbox:
    client = RecordingClient()
    deps = SenderDeps(
        pool=pool,
        secrets=SecretBox(None),
        clients={"uazapi": client},
        limiter=RateLimiter(redis_client, settings),
    )
    box = Outbox(pool, deps, client)
    await box.seed()
    return box


async def test_bot_reply_is_sent_while_the_bot_has_the_conversation(outbox: Outbox) -> None:
    row_id = await outbox.write("Olá! Como posso ajudar?", "bot")
    await outbox.send(row_id, "bot")

    assert [m.text for m in outbox.client.sent] == ["Olá! Como posso ajudar?"]
    assert await outbox.status(row_id) == "sent"


@pytest.mark.parametrize("origin", ["bot", "followup", "reminder"])
async def test_reply_is_dropped_when_a_human_took_over_after_publish(
    outbox: Outbox, origin: str
) -> None:
    row_id = await outbox.write("Temos horário às 15h.", origin)
    await outbox.human_takes_over()
    await outbox.send(row_id, origin)

    assert outbox.client.sent == []
    assert await outbox.status(row_id) == "dropped"
    assert await outbox.dropped_events() == [{"why": "human", "stage": "send"}]


async def test_system_message_is_sent_during_a_handover(outbox: Outbox) -> None:
    row_id = await outbox.write("Vou transferir você para um atendente.", "system")
    await outbox.human_takes_over()
    await outbox.send(row_id, "system")

    assert [m.text for m in outbox.client.sent] == ["Vou transferir você para um atendente."]
    assert await outbox.status(row_id) == "sent"
    assert await outbox.dropped_events() == []


async def test_followup_cancelled_by_a_customer_reply_is_not_sent(outbox: Outbox) -> None:
    row_id = await outbox.write("Oi! Ainda posso ajudar?", "followup")
    async with outbox.pool.acquire() as conn:
        await cancel_followups(conn, outbox.tenant_id, outbox.conversation_id)
    assert await outbox.status(row_id) == "dropped"
    await outbox.send(row_id, "followup")

    assert outbox.client.sent == []
    assert await outbox.status(row_id) == "dropped"
    assert [e["why"] for e in await outbox.dropped_events()] == ["customer_replied"]


async def _human_reply(outbox: Outbox, text: str) -> int:
    """An attendant's reply as the console queues it (`wacommon.conversation.human_send`)."""
    async with outbox.pool.acquire() as conn:
        result = await queue_human_reply(
            conn,
            outbox.tenant_id,
            outbox.conversation_id,
            user_id=str(uuid.uuid4()),
            key=uuid.uuid4().hex,
            reply=HumanReply(kind="text", text=text),
        )
    assert result is not None
    return int(result[0]["id"])


async def test_human_reply_is_sent_while_a_human_holds_the_conversation(outbox: Outbox) -> None:
    stale_bot = await outbox.write("Resposta velha do robô", "bot")
    # the reply itself takes the conversation over for the attendant
    human = await _human_reply(outbox, "Oi, aqui é a Ana")
    await outbox.send(stale_bot, "bot")
    await outbox.send(human, "human")

    assert [m.text for m in outbox.client.sent] == ["Oi, aqui é a Ana"]
    assert await outbox.status(human) == "sent"
    assert await outbox.status(stale_bot) == "dropped"


async def test_human_row_is_never_dropped_even_under_a_bot_command(outbox: Outbox) -> None:
    """A command that says `bot` (an old publisher, the relay of a row without origin) for a
    human-written row: the row's role decides."""
    human = await _human_reply(outbox, "Já verifiquei seu pedido")
    await outbox.send(human, "bot")

    assert [m.text for m in outbox.client.sent] == ["Já verifiquei seu pedido"]
    assert await outbox.status(human) == "sent"
    assert await outbox.dropped_events() == []
