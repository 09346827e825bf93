"""The conversation state machine on a real database: every trigger, every way out, its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from wacommon.conversation import bot_gate, business_hours, commands, human_reply
from wacommon.conversation import state as cs
from wacommon.conversation.business_hours import HoursDecision, claim_off_hours_notice
from wacommon.conversation.commands import Command, apply_customer_command
from wacommon.conversation.followups import cancel_followups
from wacommon.tenants.config import TenantConfig, parse_tenant

T0 = datetime(2030, 1, 7, 15, 0, tzinfo=UTC)


def typed(tools: dict[str, Any]) -> TenantConfig:
    return parse_tenant({"id": "t", "tools_config": tools})


def parse_customer_command(text: str, tools: dict[str, Any]) -> Command | None:
    return commands.parse_customer_command(text, typed(tools).commands)


def business_hours_decision(tools: dict[str, Any], now: datetime, tz: str) -> HoursDecision:
    return business_hours.business_hours_decision(typed(tools).hours, now, tz)


async def new_conversation(
    pool: asyncpg.Pool,
    *,
    tools_config: dict[str, Any] | None = None,
    state: str = "bot",
    bot_active: bool = True,
) -> tuple[str, str]:
    tenant_id = await pool.fetchval(
        "INSERT INTO clients (name, tools_config, bot_active) VALUES ($1, $2, $3) RETURNING id",
        f"t-{uuid.uuid4().hex[:8]}",
        tools_config or {},
        bot_active,
    )
    conv_id = await pool.fetchval(
        "INSERT INTO active_conversations (client_id, contact_key, contact_phone, provider, state,"
        " created_at) VALUES ($1, $2, $2, 'uazapi', $3, $4) RETURNING id",
        tenant_id,
        f"5511{uuid.uuid4().int % 10**9:09d}",
        state,
        T0 - timedelta(minutes=10),
    )
    return str(tenant_id), str(conv_id)


async def events(
    pool: asyncpg.Pool, tenant_id: str, conv_id: str
) -> list[tuple[str, dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT event_type, data FROM conversation_events WHERE client_id = $1"
        " AND conversation_id = $2 ORDER BY id",
        tenant_id,
        conv_id,
    )
    return [(r["event_type"], r["data"]) for r in rows]


async def state_of(pool: asyncpg.Pool, tenant_id: str, conv_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT state, state_reason, state_until, state_since, context_reset_at"
        " FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant_id,
        conv_id,
    )
    assert row is not None
    return row


async def test_ai_transfer_hands_over_and_silences_the_bot(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    until = T0 + timedelta(hours=1)
    async with pool.acquire() as conn:
        assert await cs.handover(
            conn, tenant_id, conv, cause="transfer_to_human", until=until, now=T0
        )
        assert await bot_gate.bot_may_reply(
            conn, tenant_id, conv, now=T0 + timedelta(minutes=5)
        ) == (
            False,
            "human",
        )
    row = await state_of(pool, tenant_id, conv)
    assert (row["state"], row["state_reason"], row["state_until"]) == (
        "human",
        "transfer_to_human",
        until,
    )
    assert await events(pool, tenant_id, conv) == [
        ("human_takeover", {"cause": "transfer_to_human", "until": until.isoformat()})
    ]


async def test_handover_is_tenant_scoped(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    other_client, _ = await new_conversation(pool)
    async with pool.acquire() as conn:
        assert not await cs.handover(conn, other_client, conv, cause="operator", until=None)
    assert (await state_of(pool, tenant_id, conv))["state"] == "bot"


async def test_operator_resume_ends_a_permanent_handover(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        assert await cs.handover(conn, tenant_id, conv, cause="operator", until=None, now=T0)
        # permanent: no timeout ever resumes it
        assert await bot_gate.expire_handovers(pool, now=T0 + timedelta(days=365)) >= 0
        assert (await state_of(pool, tenant_id, conv))["state"] == "human"
        assert await cs.resume(conn, tenant_id, conv, cause="operator", correlation_id="c1")
        assert not await cs.resume(conn, tenant_id, conv, cause="operator")
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (True, None)
    assert [e for e in await events(pool, tenant_id, conv)][-1] == (
        "bot_resumed",
        {"cause": "operator"},
    )


async def test_timeout_resumes_without_any_new_message(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    until = T0 + timedelta(minutes=60)
    async with pool.acquire() as conn:
        await cs.handover(conn, tenant_id, conv, cause="transfer_to_human", until=until, now=T0)
    await bot_gate.expire_handovers(pool, now=until - timedelta(seconds=1))
    assert (await state_of(pool, tenant_id, conv))["state"] == "human"
    assert await bot_gate.expire_handovers(pool, now=until) >= 1
    row = await state_of(pool, tenant_id, conv)
    assert (row["state"], row["state_reason"], row["state_until"]) == ("bot", "timeout", None)
    assert (await events(pool, tenant_id, conv))[-1] == ("bot_resumed", {"cause": "timeout"})


async def test_bot_may_reply_ends_an_expired_handover_itself(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        await cs.handover(conn, tenant_id, conv, cause="x", until=T0 + timedelta(minutes=1), now=T0)
        assert await bot_gate.bot_may_reply(
            conn, tenant_id, conv, now=T0 + timedelta(minutes=2)
        ) == (
            True,
            None,
        )
    assert (await events(pool, tenant_id, conv))[-1] == ("bot_resumed", {"cause": "timeout"})


async def test_human_reply_pauses_for_the_tenant_timeout_and_extends(pool: asyncpg.Pool) -> None:
    tools = {"atendimento_humano": {"timeout_minutes": 30}}
    tenant_id, conv = await new_conversation(pool, tools_config=tools)
    async with pool.acquire() as conn:
        state = await human_reply.on_human_message(
            conn,
            tenant_id,
            conv,
            tenant_tools_config=tools,
            human_timeout_s=3600,
            now=T0,
            provider="uazapi",
        )
        assert state == "human"
        assert (await state_of(pool, tenant_id, conv))["state_until"] == T0 + timedelta(minutes=30)
        later = T0 + timedelta(minutes=20)
        await human_reply.on_human_message(
            conn, tenant_id, conv, tenant_tools_config=tools, human_timeout_s=3600, now=later
        )
    assert (await state_of(pool, tenant_id, conv))["state_until"] == later + timedelta(minutes=30)
    assert [e for e, _ in await events(pool, tenant_id, conv)] == [
        "human_responded",
        "human_takeover",
        "human_responded",
    ]


async def test_human_reply_falls_back_to_client_timeout_seconds(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        await human_reply.on_human_message(
            conn, tenant_id, conv, tenant_tools_config={}, human_timeout_s=600, now=T0
        )
    assert (await state_of(pool, tenant_id, conv))["state_until"] == T0 + timedelta(seconds=600)


async def test_human_reply_can_pause_permanently(pool: asyncpg.Pool) -> None:
    tools = {"atendimento_humano": {"permanent_on_human_reply": True, "timeout_minutes": 30}}
    tenant_id, conv = await new_conversation(pool, tools_config=tools)
    async with pool.acquire() as conn:
        await human_reply.on_human_message(
            conn, tenant_id, conv, tenant_tools_config=tools, human_timeout_s=3600, now=T0
        )
    await bot_gate.expire_handovers(pool, now=T0 + timedelta(days=30))
    row = await state_of(pool, tenant_id, conv)
    assert (row["state"], row["state_until"]) == ("human", None)


async def test_human_hashtag_from_business_phone_resumes(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        await cs.handover(conn, tenant_id, conv, cause="operator", until=None, now=T0)
        assert (
            await human_reply.on_human_message(
                conn, tenant_id, conv, tenant_tools_config={}, human_timeout_s=None, text="#ativar"
            )
            == "bot"
        )
    assert (await state_of(pool, tenant_id, conv))["state"] == "bot"


async def test_customer_messages_never_resume_the_bot(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        await cs.handover(conn, tenant_id, conv, cause="operator", until=None, now=T0)
        # what ingest does on a customer message: reopen closed ones, cancel follow-ups
        assert not await cs.reopen(conn, tenant_id, conv)
        await cancel_followups(conn, tenant_id, conv)
        assert parse_customer_command("oi, tem alguém aí?", {}) is None
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (False, "human")


async def test_reply_generated_before_takeover_is_not_allowed_out(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        generated_ok = await bot_gate.bot_may_reply(conn, tenant_id, conv)
        await human_reply.on_human_message(
            conn, tenant_id, conv, tenant_tools_config={}, human_timeout_s=3600
        )
        # the sender re-checks right before sending
        assert generated_ok == (True, None)
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (False, "human")


async def test_opt_out_blocks_everything_until_an_operator_clears_it(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        assert await cs.opt_out(conn, tenant_id, conv, cause="tool")
        assert not await cs.handover(conn, tenant_id, conv, cause="operator", until=None)
        assert not await cs.resume(conn, tenant_id, conv, cause="customer_command")
        assert (
            await human_reply.on_human_message(
                conn, tenant_id, conv, tenant_tools_config={}, human_timeout_s=60
            )
            == "opted_out"
        )
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (False, "opted_out")
        assert await cs.clear_opt_out(conn, tenant_id, conv, cause="operator")
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (True, None)
    names = [e for e, _ in await events(pool, tenant_id, conv)]
    assert names == ["opted_out", "human_responded", "opt_out_cleared"]


async def test_close_writes_resolved_with_duration_and_reopen(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    async with pool.acquire() as conn:
        assert await cs.close(conn, tenant_id, conv, by="human", cause="operator", now=T0)
        assert not await cs.close(conn, tenant_id, conv, by="human", cause="operator", now=T0)
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (False, "closed")
        assert await cs.reopen(conn, tenant_id, conv, now=T0 + timedelta(hours=1))
        assert await cs.close(
            conn, tenant_id, conv, by="ai", cause="x", now=T0 + timedelta(hours=1, seconds=5)
        )
    evs = await events(pool, tenant_id, conv)
    assert evs[0] == ("resolved", {"by": "human", "cause": "operator", "duration_ms": 600_000})
    assert evs[1][0] == "conversation_started"
    assert evs[2] == ("resolved", {"by": "ai", "cause": "x", "duration_ms": 5_000})


async def test_bot_disabled_for_the_tenant(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool, bot_active=False)
    async with pool.acquire() as conn:
        assert await bot_gate.bot_may_reply(conn, tenant_id, conv) == (False, "bot_disabled")
        assert await bot_gate.bot_may_reply(conn, tenant_id, str(uuid.uuid4())) == (
            False,
            "conversation_not_found",
        )


@pytest.mark.parametrize(
    ("text", "tools", "state_after", "replied"),
    [
        ("#stop", {}, "human", True),
        ("#pausa por favor", {}, "human", True),
        ("#parar", {}, "opted_out", True),
        ("não quero mais receber mensagens", {}, "opted_out", True),
        ("#sair", {"commands": {"opt_out": ["#sair"]}}, "opted_out", True),
    ],
)
async def test_customer_commands_change_state(
    pool: asyncpg.Pool, text: str, tools: dict[str, Any], state_after: str, replied: bool
) -> None:
    tenant_id, conv = await new_conversation(pool, tools_config=tools)
    command = parse_customer_command(text, tools)
    assert command is not None
    async with pool.acquire() as conn:
        outcome = await apply_customer_command(
            conn, tenant_id, conv, command, commands=typed(tools).commands, now=T0
        )
    assert outcome.stop_pipeline
    assert (outcome.reply_text is not None) is replied
    assert (await state_of(pool, tenant_id, conv))["state"] == state_after


async def test_customer_pause_lasts_24h_and_customer_may_undo_only_their_own(
    pool: asyncpg.Pool,
) -> None:
    tenant_id, conv = await new_conversation(pool)
    pause, resume = parse_customer_command("#stop", {}), parse_customer_command("#ativar", {})
    assert pause is not None and resume is not None and not resume.allowed
    async with pool.acquire() as conn:
        await apply_customer_command(conn, tenant_id, conv, pause, now=T0)
        assert (await state_of(pool, tenant_id, conv))["state_until"] == T0 + timedelta(hours=24)
        assert (await apply_customer_command(conn, tenant_id, conv, resume)).reply_text
        assert (await state_of(pool, tenant_id, conv))["state"] == "bot"
        # a handover the operator started is not the customer's to undo
        await cs.handover(conn, tenant_id, conv, cause="operator", until=None)
        outcome = await apply_customer_command(conn, tenant_id, conv, resume)
        assert (outcome.reply_text, outcome.stop_pipeline) == (None, True)
        assert (await state_of(pool, tenant_id, conv))["state"] == "human"


async def test_tenant_may_let_customers_resume(pool: asyncpg.Pool) -> None:
    tools = {"commands": {"customer_can_resume": True}}
    tenant_id, conv = await new_conversation(pool, tools_config=tools)
    resume = parse_customer_command("#ativar", tools)
    assert resume is not None and resume.allowed
    async with pool.acquire() as conn:
        await cs.handover(conn, tenant_id, conv, cause="operator", until=None)
        await apply_customer_command(conn, tenant_id, conv, resume, commands=typed(tools).commands)
    assert (await state_of(pool, tenant_id, conv))["state"] == "bot"


async def test_reset_command_starts_a_fresh_context(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await new_conversation(pool)
    command = parse_customer_command("#reset", {})
    assert command is not None
    async with pool.acquire() as conn:
        outcome = await apply_customer_command(conn, tenant_id, conv, command, now=T0)
    row = await state_of(pool, tenant_id, conv)
    assert (row["state"], row["context_reset_at"]) == ("bot", T0)
    assert outcome.reply_text
    assert await events(pool, tenant_id, conv) == [
        ("conversation_reset", {"cause": "customer_command"})
    ]


async def test_off_hours_notice_once_per_closed_period(pool: asyncpg.Pool) -> None:
    tools = {
        "business_hours": {
            "active": True,
            "mode": "dentro",
            "off_message": "Fechados",
            "schedule": {
                d: {"on": True, "start": "08:00", "end": "18:00"}
                for d in ("seg", "ter", "qua", "qui", "sex")
            },
        }
    }
    tenant_id, conv = await new_conversation(pool, tools_config=tools)
    tz = "America/Sao_Paulo"
    night = datetime(2030, 1, 7, 23, 0, tzinfo=UTC)  # Monday 20:00 local
    first = business_hours_decision(tools, night, tz)
    later = business_hours_decision(tools, night + timedelta(hours=5), tz)
    next_night = business_hours_decision(tools, night + timedelta(days=1), tz)
    assert first.period_key and first.period_key == later.period_key != next_night.period_key
    async with pool.acquire() as conn:
        assert await claim_off_hours_notice(conn, tenant_id, conv, first.period_key)
        assert not await claim_off_hours_notice(conn, tenant_id, conv, str(later.period_key))
        assert await claim_off_hours_notice(conn, tenant_id, conv, str(next_night.period_key))
    assert [e for e, _ in await events(pool, tenant_id, conv)] == [
        "off_hours_replied",
        "off_hours_replied",
    ]
