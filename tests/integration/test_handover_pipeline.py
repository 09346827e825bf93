"""The rag-worker's burst handler against handover, staleness and the transfer tool (real Postgres)."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from rag_worker.deps import RagDeps
from rag_worker.handlers import handle_burst_ready
from waai.formatting import shape_reply
from waai.responders.responder import Responder, ResponderInput, ResponderOutput, Tenant
from wacommon.broker.consumer import Delivery
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import (
    BurstReady,
    Contact,
    InboundMessage,
    MessageKind,
    Provider,
    SenderRole,
    SendReply,
    utcnow,
)
from wacommon.conversation import human_reply
from wacommon.conversation import state as cs
from wacommon.infra.crypto import SecretBox
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories.events import PgEventLog

DELIVERY = Delivery(redelivered=False, delivery_count=1, retry_count=0)
Step = Callable[[ResponderInput], Awaitable[ResponderOutput]]


def says(*messages: str, **extra: Any) -> Step:
    """A scripted turn: answer `messages` (with handover_reason / opt_out if given)."""

    async def step(inp: ResponderInput) -> ResponderOutput:
        return ResponderOutput(messages=list(messages), **extra)

    return step


class ScriptedResponder:
    """The Responder port from a script; records every input it was given."""

    def __init__(self, *steps: Step) -> None:
        self.steps: deque[Step] = deque(steps)
        self.inputs: list[ResponderInput] = []

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        self.inputs.append(inp)
        step = self.steps.popleft() if self.steps else says("ok")
        return await step(inp)


class Chat:
    """One tenant and one customer, seeded through the repositories, and the handler's deps."""

    def __init__(self, pool: asyncpg.Pool, tenant_id: str, responder: ScriptedResponder) -> None:
        self.pool = pool
        self.tenant_id = tenant_id
        self.contact = Contact(key=f"55119{uuid.uuid4().int % 10**8:08d}", name="Ana")
        self.conversation_id = ""
        self.responder = responder
        self.publisher = FakePublisher()
        self._deps: RagDeps | None = None

    @classmethod
    async def start(
        cls, pool: asyncpg.Pool, *steps: Step, tools_config: dict[str, Any] | None = None
    ) -> Chat:
        fields = {"name": f"h-{uuid.uuid4().hex[:8]}", "timezone": "America/Sao_Paulo"}
        client = await clients_repo.create_client(pool, {**fields, "tools_config": tools_config})
        return cls(pool, str(client["id"]), ScriptedResponder(*steps))

    def deps(self) -> RagDeps:
        """One set per chat, as one worker keeps them: later bursts of the tenant read
        context, burst and history in one statement (the window is known)."""

        def responder_for(tenant: Tenant) -> Responder:
            return self.responder

        if self._deps is None:
            self._deps = RagDeps(
                pool=self.pool,
                publisher=self.publisher,
                events=PgEventLog(self.pool),
                secrets=SecretBox(None),
                responder_for=responder_for,
            )
        return self._deps

    async def inbound(self, text: str, sender: SenderRole = SenderRole.CUSTOMER) -> int:
        """Store a message as ingest does (conversation upserted first)."""
        at = utcnow()
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.tenant_id,
            self.contact,
            provider="uazapi",
            instance_id=None,
            at=at,
            role=sender.value,
        )
        self.conversation_id = str(conv["id"])
        msg = InboundMessage(
            provider=Provider.UAZAPI,
            tenant_id=self.tenant_id,
            contact=self.contact,
            provider_message_id=uuid.uuid4().hex,
            kind=MessageKind.TEXT,
            text=text,
            sent_at=at,
            sender=sender,
        )
        message_id = await msg_repo.store_inbound(self.pool, msg, self.conversation_id)
        assert message_id is not None
        return message_id

    async def burst(self, *message_ids: int) -> BurstReady:
        """Run the handler on a burst of these stored messages."""
        msg = BurstReady(
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            burst_id=uuid.uuid4().hex,
            message_ids=list(message_ids),
            first_message_at=utcnow(),
        )
        await handle_burst_ready(msg, DELIVERY, deps=self.deps())
        return msg

    async def outbox(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT id, content, payload, status, burst_id FROM chat_messages"
            " WHERE client_id = $1 AND conversation_id = $2 AND direction = 'out' ORDER BY id",
            self.tenant_id,
            self.conversation_id,
        )

    async def mark_outbox_sent(self) -> None:
        """What the sender does with the replies written so far."""
        for row in await self.outbox():
            await outbox_repo.mark_sent(self.pool, self.tenant_id, row["id"], uuid.uuid4().hex)

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1 AND conversation_id = $2"
            " AND event_type = $3 ORDER BY id",
            self.tenant_id,
            self.conversation_id,
            event_type,
        )
        return [dict(r["data"]) for r in rows]

    async def state(self) -> str:
        conv = await conv_repo.get_conversation(self.pool, self.tenant_id, self.conversation_id)
        assert conv is not None
        return str(conv["state"])

    async def handover(self, cause: str = "operator", until: datetime | None = None) -> None:
        async with self.pool.acquire() as conn:
            assert await cs.handover(
                conn, self.tenant_id, self.conversation_id, cause=cause, until=until
            )

    def sends(self) -> list[SendReply]:
        return [m for m in self.publisher.of_type(SendReply) if isinstance(m, SendReply)]


async def test_customer_message_during_handover_gets_no_reply(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(pool, says("Olá!"))
    first = await chat.inbound("oi")
    await chat.handover()
    await chat.burst(first, await chat.inbound("alguém aí?"))

    assert await chat.outbox() == []
    assert chat.sends() == []
    assert chat.responder.inputs == []
    assert await chat.state() == "human"


async def test_reply_generated_before_a_human_took_over_is_dropped(pool: asyncpg.Pool) -> None:
    async def human_takes_over_meanwhile(inp: ResponderInput) -> ResponderOutput:
        async with pool.acquire() as other:
            await cs.handover(
                other, inp.tenant.id, inp.conversation_id, cause="human_reply", until=None
            )
        return ResponderOutput(messages=["Claro, posso ajudar!"])

    chat = await Chat.start(pool, human_takes_over_meanwhile)
    await chat.burst(await chat.inbound("preciso de ajuda"))

    assert len(chat.responder.inputs) == 1
    assert await chat.outbox() == []
    assert chat.sends() == []
    assert await chat.events("reply_dropped") == [{"why": "state_human", "stage": "generated"}]
    assert await chat.events("ai_responded") == []


async def test_after_resume_the_prompt_shows_what_the_human_said(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(pool, says("Olá! Como posso ajudar?"), says("Fico feliz!"))
    await chat.burst(await chat.inbound("oi"))
    await chat.mark_outbox_sent()
    await chat.handover()
    await chat.burst(await chat.inbound("quero falar com uma pessoa"))
    await chat.inbound("Oi Ana, aqui é a Carla. Seu pedido sai amanhã.", SenderRole.HUMAN)
    async with pool.acquire() as conn:
        await human_reply.on_human_message(
            conn,
            chat.tenant_id,
            chat.conversation_id,
            tenant_tools_config={},
            human_timeout_s=None,
            text="Oi Ana, aqui é a Carla. Seu pedido sai amanhã.",
        )
        assert await cs.resume(conn, chat.tenant_id, chat.conversation_id, cause="operator")
    await chat.burst(await chat.inbound("obrigada!"))

    assert len(chat.responder.inputs) == 2
    prompt = chat.responder.inputs[-1]
    assert [(t.role, t.text) for t in prompt.history] == [
        ("customer", "oi"),
        ("bot", "Olá! Como posso ajudar?"),
        ("customer", "quero falar com uma pessoa"),
        ("human", "Oi Ana, aqui é a Carla. Seu pedido sai amanhã."),
    ]
    assert [(t.role, t.text) for t in prompt.burst] == [("customer", "obrigada!")]
    [_, last] = await chat.outbox()
    assert last["content"] == "Fico feliz!"


async def test_stale_reply_is_dropped_and_the_next_burst_answers_everything(
    pool: asyncpg.Pool,
) -> None:
    chat = await Chat.start(pool)
    newer: list[int] = []

    async def customer_writes_meanwhile(inp: ResponderInput) -> ResponderOutput:
        newer.append(await chat.inbound("é para amanhã"))
        return ResponderOutput(messages=["Temos horário hoje às 15h."])

    chat.responder.steps.extend([customer_writes_meanwhile, says("Amanhã temos às 10h e às 15h.")])
    first = await chat.burst(await chat.inbound("tem horário?"))

    assert await chat.outbox() == []
    assert chat.sends() == []
    assert await chat.events("reply_dropped") == [{"why": "stale", "stage": "generated"}]

    second = await chat.burst(*newer)
    assert [t.text for t in chat.responder.inputs[-1].burst] == ["tem horário?", "é para amanhã"]
    [row] = await chat.outbox()
    assert (row["content"], row["burst_id"]) == ("Amanhã temos às 10h e às 15h.", second.burst_id)
    assert [(m.outbound_id, m.origin) for m in chat.sends()] == [(row["id"], "bot")]
    assert first.burst_id != second.burst_id


async def test_transfer_to_human_hands_over_with_an_ai_cause(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(
        pool, says("Vou chamar um atendente.", handover_reason="cliente pediu atendente")
    )
    await chat.burst(await chat.inbound("quero falar com um humano"))

    assert await chat.state() == "human"
    [takeover] = await chat.events("human_takeover")
    assert takeover["cause"].startswith("ai:")
    assert takeover["cause"] == "ai:cliente pediu atendente"
    [row] = await chat.outbox()
    assert (row["content"], row["payload"]["origin"]) == ("Vou chamar um atendente.", "system")
    assert [(m.outbound_id, m.origin) for m in chat.sends()] == [(row["id"], "system")]
    # the bot stays silent afterwards
    await chat.burst(await chat.inbound("oi?"))
    assert len(chat.responder.inputs) == 1


async def test_message_after_an_expired_handover_is_answered(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(pool, says("Voltei! Como posso ajudar?"))
    await chat.inbound("oi")
    # the pause ended a moment ago and the followup scan has not resumed the bot yet
    await chat.handover(cause="human_reply", until=utcnow() - timedelta(seconds=1))
    await chat.burst(await chat.inbound("ainda tem alguém aí?"))

    assert await chat.state() == "bot"
    [row] = await chat.outbox()
    assert row["content"] == "Voltei! Como posso ajudar?"
    assert [d["cause"] for d in await chat.events("bot_resumed")] == ["timeout"]


async def test_fractional_history_hours_are_a_window_not_a_crash(pool: asyncpg.Pool) -> None:
    llm = {"llm_config": {"history_hours": "1.5", "history_messages": 1}}
    chat = await Chat.start(pool, says("Oi!"), says("Custa R$ 50."), tools_config=llm)
    await chat.burst(await chat.inbound("oi"))
    await chat.mark_outbox_sent()
    await chat.burst(await chat.inbound("quanto custa?"))

    assert [(t.role, t.text) for t in chat.responder.inputs[-1].history] == [("bot", "Oi!")]
    assert [r["content"] for r in await chat.outbox()] == ["Oi!", "Custa R$ 50."]


async def test_the_bubbles_a_responder_returns_go_out_as_they_are(pool: asyncpg.Pool) -> None:
    key = "12.345.678/0001-90"
    reply = f"A chave Pix é o CNPJ {key}, em nome de Forno da Vila."
    chat = await Chat.start(pool, says(*shape_reply(reply)))
    await chat.burst(await chat.inbound("qual a chave pix?"))
    # the answer, then the key alone once: the handler must not shape the bubbles again
    assert [r["content"] for r in await chat.outbox()] == [reply, key]


async def test_a_changed_history_window_applies_to_the_next_burst(pool: asyncpg.Pool) -> None:
    chat = await Chat.start(pool, says("Oi!"), says("Tudo bem."), says("Custa R$ 50."))
    await chat.burst(await chat.inbound("oi"))
    await chat.mark_outbox_sent()
    await chat.burst(await chat.inbound("tudo bem?"))
    await chat.mark_outbox_sent()
    # the worker read the tenant with the default window; an operator narrows it
    assert chat.deps().history_windows[chat.tenant_id] == (20, 72.0)
    assert len(chat.responder.inputs[-1].history) == 2
    await pool.execute(
        "UPDATE clients SET tools_config = $2 WHERE id = $1",
        chat.tenant_id,
        {"llm_config": {"history_messages": 1}},
    )
    await chat.burst(await chat.inbound("quanto custa?"))

    # read with the remembered window, then again with the tenant's new one
    assert [(t.role, t.text) for t in chat.responder.inputs[-1].history] == [("bot", "Tudo bem.")]
    assert [t.text for t in chat.responder.inputs[-1].burst] == ["quanto custa?"]
    assert chat.deps().history_windows[chat.tenant_id] == (1, 72.0)


async def test_a_reply_schedules_the_next_follow_up_and_bubbles_keep_their_order(
    pool: asyncpg.Pool,
) -> None:
    chat = await Chat.start(pool, says("Olá!", "Em que posso ajudar?"), says("Certo."))
    plan = {"active": True, "stages": [{"delay_minutes": 30}, {"delay_minutes": 120}]}
    await pool.execute(
        "UPDATE clients SET followup_config = $2 WHERE id = $1", chat.tenant_id, plan
    )
    before = utcnow()
    await chat.burst(await chat.inbound("oi"))
    assert [r["content"] for r in await chat.outbox()] == ["Olá!", "Em que posso ajudar?"]
    assert [s.outbound_id for s in chat.sends()] == [(await chat.outbox())[0]["id"]]
    due = await pool.fetchval(
        "SELECT followup_due_at FROM active_conversations WHERE client_id = $1 AND id = $2",
        chat.tenant_id,
        chat.conversation_id,
    )
    assert before + timedelta(minutes=30) <= due <= utcnow() + timedelta(minutes=30)

    # one follow-up went out: the next reply schedules the second stage ...
    await pool.execute(
        "UPDATE active_conversations SET followup_stage = 1 WHERE client_id = $1 AND id = $2",
        chat.tenant_id,
        chat.conversation_id,
    )
    await chat.mark_outbox_sent()
    await chat.burst(await chat.inbound("e aí?"))
    due = await pool.fetchval(
        "SELECT followup_due_at FROM active_conversations WHERE client_id = $1 AND id = $2",
        chat.tenant_id,
        chat.conversation_id,
    )
    assert before + timedelta(minutes=120) <= due <= utcnow() + timedelta(minutes=120)

    # ... and with the plan switched off the due time is cleared
    await pool.execute("UPDATE clients SET followup_config = '{}' WHERE id = $1", chat.tenant_id)
    await chat.mark_outbox_sent()
    await chat.burst(await chat.inbound("obrigado"))
    assert (
        await pool.fetchval(
            "SELECT followup_due_at FROM active_conversations WHERE client_id = $1 AND id = $2",
            chat.tenant_id,
            chat.conversation_id,
        )
        is None
    )
    assert len(await chat.events("ai_responded")) == 3
