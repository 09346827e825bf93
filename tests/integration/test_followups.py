"""The followup service's scans on a real database, time injected: follow-ups and reminders."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from followup.main import bootstrap
from followup.scanner import FollowupScanner
from followup.settings import FollowupSettings
from followup.writers import FollowupDecision, FollowupRequest
from sender.relay import relay_once
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import SendReply
from wacommon.conversation import state as cs
from wacommon.conversation.followups import cancel_followups, schedule_followup
from wacommon.conversation.reminders import cancel_reminder, create_reminder

T0 = datetime(2031, 3, 3, 13, 0, tzinfo=UTC)  # Monday 10:00 in São Paulo
SP = "America/Sao_Paulo"
PLAN: dict[str, Any] = {
    "active": True,
    "stages": [
        {"type": "text", "delay_minutes": 60, "message": "Oi! Ainda posso ajudar?"},
        {"type": "text", "delay_minutes": 120, "prompt": "Pergunte se ainda tem interesse"},
    ],
}


def scanner(pool: asyncpg.Pool, publisher: FakePublisher, **kw: Any) -> FollowupScanner:
    settings = FollowupSettings(_env_file=None)
    return bootstrap(settings, pool=pool, publisher=publisher, **kw)


async def conversation(
    pool: asyncpg.Pool,
    *,
    plan: dict[str, Any] | None = None,
    provider: str = "uazapi",
    customer_at: datetime = T0 - timedelta(minutes=5),
    bot_at: datetime = T0,
    contact_name: str | None = "Ana Souza",
) -> tuple[str, str]:
    """A conversation where the customer wrote at `customer_at` and the bot answered at `bot_at`."""
    tenant_id = str(
        await pool.fetchval(
            "INSERT INTO clients (name, timezone, followup_config) VALUES ($1, $2, $3) RETURNING id",
            f"f-{uuid.uuid4().hex[:8]}",
            SP,
            plan if plan is not None else PLAN,
        )
    )
    conv = str(
        await pool.fetchval(
            "INSERT INTO active_conversations (client_id, contact_key, contact_name, provider,"
            " last_customer_message_at, last_bot_message_at, last_role)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'bot') RETURNING id",
            tenant_id,
            uuid.uuid4().hex,
            contact_name,
            provider,
            customer_at,
            bot_at,
        )
    )
    await pool.execute(
        "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
        " content, created_at) VALUES ($1, $2, 'in', 'customer', $3, 'Quanto custa?', $4),"
        " ($1, $2, 'out', 'bot', $3, 'Custa R$ 50.', $5)",
        tenant_id,
        conv,
        provider,
        customer_at,
        bot_at,
    )
    async with pool.acquire() as conn:
        await schedule_followup(conn, tenant_id, conv, plan if plan is not None else PLAN, bot_at)
    return tenant_id, conv


async def customer_writes(
    pool: asyncpg.Pool, tenant_id: str, conv: str, text: str, at: datetime
) -> bool:
    """What ingest does on a customer message; returns whether a follow-up converted."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            " content, created_at) VALUES ($1, $2, 'in', 'customer', 'uazapi', $3, $4)",
            tenant_id,
            conv,
            text,
            at,
        )
        await conn.execute(
            "UPDATE active_conversations SET last_customer_message_at = $3, last_role = 'customer'"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conv,
            at,
        )
        return await cancel_followups(conn, tenant_id, conv, now=at)


async def outbound(pool: asyncpg.Pool, tenant_id: str, conv: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, kind, content, payload, status, idempotency_key FROM chat_messages"
        " WHERE client_id = $1 AND conversation_id = $2 AND direction = 'out' AND role = 'bot'"
        " AND payload ? 'origin' ORDER BY id",
        tenant_id,
        conv,
    )


def sends(publisher: FakePublisher, conv: str) -> list[SendReply]:
    return [
        m
        for m in publisher.of_type(SendReply)
        if isinstance(m, SendReply) and m.conversation_id == conv
    ]


async def events(pool: asyncpg.Pool, tenant_id: str, conv: str) -> list[tuple[str, Any]]:
    rows = await pool.fetch(
        "SELECT event_type, data FROM conversation_events WHERE client_id = $1"
        " AND conversation_id = $2 ORDER BY id",
        tenant_id,
        conv,
    )
    return [(r["event_type"], r["data"]) for r in rows]


async def followup_row(pool: asyncpg.Pool, tenant_id: str, conv: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT state, followup_stage, followup_due_at FROM active_conversations"
        " WHERE client_id = $1 AND id = $2",
        tenant_id,
        conv,
    )
    assert row is not None
    return row


async def test_stages_fire_after_their_delay_and_not_before(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool)
    publisher = FakePublisher()
    scan = scanner(pool, publisher)
    await scan.run_once(T0 + timedelta(minutes=59))
    assert await outbound(pool, tenant_id, conv) == []
    await scan.run_once(T0 + timedelta(minutes=60))
    rows = await outbound(pool, tenant_id, conv)
    assert [(r["kind"], r["content"], r["status"]) for r in rows] == [
        ("text", "Oi! Ainda posso ajudar?", "pending")
    ]
    assert rows[0]["payload"]["origin"] == "followup"
    [send] = sends(publisher, conv)
    assert (send.outbound_id, send.origin, send.tenant_id) == (rows[0]["id"], "followup", tenant_id)
    row = await followup_row(pool, tenant_id, conv)
    assert (row["followup_stage"], row["followup_due_at"]) == (1, T0 + timedelta(minutes=180))

    await scan.run_once(T0 + timedelta(minutes=179))
    assert len(await outbound(pool, tenant_id, conv)) == 1
    await scan.run_once(T0 + timedelta(minutes=180))
    await scan.run_once(T0 + timedelta(days=3))
    rows = await outbound(pool, tenant_id, conv)
    assert len(rows) == 2
    assert rows[1]["content"].startswith("Oi Ana")
    assert len(sends(publisher, conv)) == 2
    assert (await followup_row(pool, tenant_id, conv))["followup_due_at"] is None
    sent = [d["stage"] for e, d in await events(pool, tenant_id, conv) if e == "followup_sent"]
    assert sent == [1, 2]


async def test_outside_allowed_hours_the_stage_waits(pool: asyncpg.Pool) -> None:
    plan = {
        **PLAN,
        "allowed_hours": {
            "enabled": True,
            "start": "09:00",
            "end": "18:00",
            "days": {"seg": True, "ter": True},
        },
    }
    # the bot spoke Monday 17:30 local: stage 1 is due at 18:30, outside the allowed hours
    bot_at = T0 + timedelta(hours=7, minutes=30)
    tenant_id, conv = await conversation(
        pool, plan=plan, bot_at=bot_at, customer_at=bot_at - timedelta(minutes=1)
    )
    publisher = FakePublisher()
    scan = scanner(pool, publisher)
    await scan.run_once(bot_at + timedelta(hours=1))
    assert await outbound(pool, tenant_id, conv) == []
    tuesday_9 = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
    assert (await followup_row(pool, tenant_id, conv))["followup_due_at"] == tuesday_9
    await scan.run_once(tuesday_9 - timedelta(minutes=1))
    assert await outbound(pool, tenant_id, conv) == []
    await scan.run_once(tuesday_9)
    assert len(await outbound(pool, tenant_id, conv)) == 1


@pytest.mark.parametrize("provider", ["meta", "lancepilot"])
async def test_outside_24h_window_uses_the_stage_template(
    pool: asyncpg.Pool, provider: str
) -> None:
    template = {"name": "retomar_contato", "language": "pt_BR", "components": []}
    plan = {
        "active": True,
        "stages": [{"delay_minutes": 60 * 30, "message": "Oi!", "template": template}],
    }
    tenant_id, conv = await conversation(pool, plan=plan, provider=provider)
    publisher = FakePublisher()
    await scanner(pool, publisher).run_once(T0 + timedelta(hours=30))
    [row] = await outbound(pool, tenant_id, conv)
    assert row["kind"] == "template"
    assert row["payload"]["template"] == template
    assert len(sends(publisher, conv)) == 1


async def test_inside_24h_window_meta_sends_free_text(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool, provider="meta")
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=1))
    assert [r["kind"] for r in await outbound(pool, tenant_id, conv)] == ["text"]


async def test_outside_24h_window_without_template_skips_and_says_why(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60 * 25, "message": "Oi!"}]}
    tenant_id, conv = await conversation(pool, plan=plan, provider="meta")
    publisher = FakePublisher()
    await scanner(pool, publisher).run_once(T0 + timedelta(hours=25))
    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []
    assert ("followup_skipped", {"stage": 1, "why": "outside_24h_window"}) in await events(
        pool, tenant_id, conv
    )
    assert (await followup_row(pool, tenant_id, conv))["followup_due_at"] is None


async def test_uazapi_has_no_24h_window(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60 * 48, "message": "Oi!"}]}
    tenant_id, conv = await conversation(pool, plan=plan, provider="uazapi")
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=48))
    assert len(await outbound(pool, tenant_id, conv)) == 1


async def test_sandbox_test_customers_get_no_followups(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool, provider="sandbox")
    assert (await followup_row(pool, tenant_id, conv))["followup_due_at"] is not None
    publisher = FakePublisher()
    await scanner(pool, publisher).run_once(T0 + timedelta(days=3))
    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []


async def test_two_replicas_and_overlapping_scans_send_each_stage_once(pool: asyncpg.Pool) -> None:
    convs = [await conversation(pool) for _ in range(40)]
    at = T0 + timedelta(minutes=61)
    first, second = FakePublisher(), FakePublisher()
    replica_a, replica_b = scanner(pool, first), scanner(pool, second)
    await asyncio.gather(replica_a.run_once(at), replica_b.run_once(at), replica_a.run_once(at))
    await replica_b.run_once(at)
    for tenant_id, conv in convs:
        rows = await outbound(pool, tenant_id, conv)
        assert len(rows) == 1
        published = sends(first, conv) + sends(second, conv)
        assert [m.outbound_id for m in published] == [rows[0]["id"]]


class CrashingWriter:
    """The writer (an LLM) fails: the claim's lease keeps the stage off until it ends."""

    async def write(self, request: FollowupRequest) -> FollowupDecision:
        raise TimeoutError("llm timed out")


async def test_a_failed_write_is_retried_after_its_lease_exactly_once(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "retome"}]}
    tenant_id, conv = await conversation(pool, plan=plan)
    at = T0 + timedelta(minutes=60)
    result = await scanner(pool, FakePublisher(), writer=CrashingWriter()).run_once(at)
    assert result.followups["error"] >= 1
    publisher = FakePublisher()
    scan = scanner(pool, publisher)
    await scan.run_once(at + timedelta(minutes=4))
    assert await outbound(pool, tenant_id, conv) == []
    await scan.run_once(at + timedelta(minutes=5))
    await scan.run_once(at + timedelta(minutes=6))
    assert len(await outbound(pool, tenant_id, conv)) == 1
    assert len(sends(publisher, conv)) == 1


async def test_replicas_share_llm_stages_exactly_once(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "retome"}]}
    convs = [await conversation(pool, plan=plan) for _ in range(20)]
    at = T0 + timedelta(minutes=61)
    first, second = FakePublisher(), FakePublisher()
    await asyncio.gather(scanner(pool, first).run_once(at), scanner(pool, second).run_once(at))
    for tenant_id, conv in convs:
        [row] = await outbound(pool, tenant_id, conv)
        assert [m.outbound_id for m in sends(first, conv) + sends(second, conv)] == [row["id"]]


class ReplyingWriter:
    """Simulates a customer answering while the follow-up is being written."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def write(self, request: FollowupRequest) -> FollowupDecision:
        await customer_writes(
            self.pool, request.tenant_id, request.conversation_id, "Oi, voltei", request.now
        )
        return FollowupDecision(text="Ainda tem interesse?")


async def test_customer_reply_between_scan_and_send_cancels(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "retome"}]}
    tenant_id, conv = await conversation(pool, plan=plan)
    publisher = FakePublisher()
    await scanner(pool, publisher, writer=ReplyingWriter(pool)).run_once(T0 + timedelta(hours=1))
    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []
    row = await followup_row(pool, tenant_id, conv)
    assert (row["followup_stage"], row["followup_due_at"]) == (0, None)


async def test_customer_reply_drops_a_queued_followup(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool)
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=1))
    # the sender has not sent it yet when the customer writes
    assert not await customer_writes(pool, tenant_id, conv, "oi", T0 + timedelta(minutes=61))
    [row] = await outbound(pool, tenant_id, conv)
    assert row["status"] == "dropped"
    assert (
        "reply_dropped",
        {"why": "customer_replied", "origin": "followup", "outbound_id": row["id"]},
    ) in await events(pool, tenant_id, conv)


async def test_reply_within_the_window_converts_and_resets_stages(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool)
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=1))
    await pool.execute(
        "UPDATE chat_messages SET status = 'sent' WHERE client_id = $1"
        " AND conversation_id = $2 AND direction = 'out'",
        tenant_id,
        conv,
    )
    assert await customer_writes(pool, tenant_id, conv, "Tenho sim!", T0 + timedelta(hours=5))
    row = await followup_row(pool, tenant_id, conv)
    assert (row["followup_stage"], row["followup_due_at"]) == (0, None)
    assert ("followup_converted", {"stage": 1}) in await events(pool, tenant_id, conv)
    # the next customer message is no conversion: no follow-up since
    assert not await customer_writes(pool, tenant_id, conv, "?", T0 + timedelta(hours=6))


async def test_reply_after_the_window_is_no_conversion(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool, plan={**PLAN, "conversion_window_hours": 2})
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=1))
    await pool.execute(
        "UPDATE chat_messages SET status = 'sent' WHERE client_id = $1"
        " AND conversation_id = $2 AND direction = 'out'",
        tenant_id,
        conv,
    )
    assert not await customer_writes(
        pool, tenant_id, conv, "oi", T0 + timedelta(hours=3, minutes=1)
    )
    assert "followup_converted" not in [e for e, _ in await events(pool, tenant_id, conv)]


class FinishingWriter:
    async def write(self, request: FollowupRequest) -> FollowupDecision:
        return FollowupDecision(finished=True)


async def test_finished_closes_the_conversation(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "retome"}]}
    tenant_id, conv = await conversation(pool, plan=plan)
    publisher = FakePublisher()
    await scanner(pool, publisher, writer=FinishingWriter()).run_once(T0 + timedelta(hours=1))
    assert await outbound(pool, tenant_id, conv) == []
    row = await followup_row(pool, tenant_id, conv)
    assert (row["state"], row["followup_due_at"]) == ("closed", None)
    [(_name, data)] = [e for e in await events(pool, tenant_id, conv) if e[0] == "resolved"]
    assert (data["by"], data["cause"]) == ("ai", "followup_finished")


async def test_offline_writer_finishes_after_a_goodbye(pool: asyncpg.Pool) -> None:
    plan = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "retome"}]}
    tenant_id, conv = await conversation(pool, plan=plan)
    await pool.execute(
        "UPDATE chat_messages SET content = 'Valeu, obrigado!' WHERE client_id = $1"
        " AND conversation_id = $2 AND role = 'customer'",
        tenant_id,
        conv,
    )
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=1))
    assert (await followup_row(pool, tenant_id, conv))["state"] == "closed"


async def test_no_followups_during_a_handover_or_after_opt_out(pool: asyncpg.Pool) -> None:
    human_client, human_conv = await conversation(pool)
    out_client, out_conv = await conversation(pool)
    async with pool.acquire() as conn:
        await cs.handover(conn, human_client, human_conv, cause="operator", until=None)
        await cs.opt_out(conn, out_client, out_conv, cause="tool")
        # a late schedule after the state changed must not arm anything either
        assert await schedule_followup(conn, out_client, out_conv, PLAN, T0) is None
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(days=2))
    assert await outbound(pool, human_client, human_conv) == []
    assert await outbound(pool, out_client, out_conv) == []


async def test_a_lost_publish_is_published_again_by_the_senders_relay(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await conversation(pool)
    broken = FakePublisher()
    broken.fail_with = ConnectionError("broker down")
    await scanner(pool, broken).run_once(T0 + timedelta(hours=1))
    [row] = await outbound(pool, tenant_id, conv)
    assert row["status"] == "pending"  # stored, its command lost
    relay = FakePublisher()
    await pool.execute(
        "UPDATE chat_messages SET updated_at = now() - interval '10 years' WHERE id = $1", row["id"]
    )
    await relay_once(pool, relay, older_than_s=30)
    assert [(m.outbound_id, m.origin) for m in sends(relay, conv)] == [(row["id"], "followup")]


# ---- reminders


async def reminder_conversation(pool: asyncpg.Pool, *, provider: str = "uazapi") -> tuple[str, str]:
    return await conversation(pool, plan={}, provider=provider)


async def test_due_reminder_is_sent_once(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool)
    async with pool.acquire() as conn:
        reminder = await create_reminder(
            conn, tenant_id, conv, "amanhã às 15h", "buscar o carro na oficina", T0, SP
        )
    due = datetime(2031, 3, 4, 18, 0, tzinfo=UTC)
    assert reminder.due_at == due
    first, second = FakePublisher(), FakePublisher()
    await scanner(pool, first).run_once(due - timedelta(seconds=1))
    assert await outbound(pool, tenant_id, conv) == []
    await asyncio.gather(scanner(pool, first).run_once(due), scanner(pool, second).run_once(due))
    await scanner(pool, second).run_once(due + timedelta(hours=1))
    [row] = await outbound(pool, tenant_id, conv)
    assert row["content"] == "Lembrete: buscar o carro na oficina"
    assert row["payload"]["origin"] == "reminder"
    published = sends(first, conv) + sends(second, conv)
    assert [(m.outbound_id, m.origin) for m in published] == [(row["id"], "reminder")]
    status = await pool.fetchrow(
        "SELECT status, outbound_id FROM reminders WHERE id = $1", reminder.id
    )
    assert status is not None and (status["status"], status["outbound_id"]) == ("sent", row["id"])


async def test_cancelled_reminder_is_not_sent(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool)
    async with pool.acquire() as conn:
        reminder = await create_reminder(conn, tenant_id, conv, "daqui a 2 horas", "ligar", T0, SP)
        assert await cancel_reminder(conn, tenant_id, reminder.id)
        assert not await cancel_reminder(conn, tenant_id, reminder.id)
    publisher = FakePublisher()
    await scanner(pool, publisher).run_once(T0 + timedelta(hours=3))
    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []


async def test_reminder_the_customer_called_off_is_not_sent(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool)
    async with pool.acquire() as conn:
        reminder = await create_reminder(
            conn, tenant_id, conv, "daqui a 2 horas", "consulta às 17h", T0, SP
        )
    await customer_writes(
        pool, tenant_id, conv, "pode cancelar a consulta, não vou mais", T0 + timedelta(minutes=30)
    )
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=2))
    assert await outbound(pool, tenant_id, conv) == []
    assert (
        await pool.fetchval("SELECT status FROM reminders WHERE id = $1", reminder.id)
        == "cancelled"
    )


async def test_opt_out_cancels_pending_reminders(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool)
    async with pool.acquire() as conn:
        reminder = await create_reminder(conn, tenant_id, conv, "daqui a 2 horas", "x", T0, SP)
        await cs.opt_out(conn, tenant_id, conv, cause="customer_command")
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(hours=2))
    assert await outbound(pool, tenant_id, conv) == []
    assert (
        await pool.fetchval("SELECT status FROM reminders WHERE id = $1", reminder.id)
        == "cancelled"
    )


async def test_reminder_outside_the_meta_window_fails_with_reason(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool, provider="meta")
    async with pool.acquire() as conn:
        reminder = await create_reminder(conn, tenant_id, conv, "daqui a 3 dias", "x", T0, SP)
    await scanner(pool, FakePublisher()).run_once(T0 + timedelta(days=3))
    row = await pool.fetchrow("SELECT status, error FROM reminders WHERE id = $1", reminder.id)
    assert row is not None and (row["status"], row["error"]) == ("failed", "outside_24h_window")
    assert await outbound(pool, tenant_id, conv) == []


async def test_reminder_waits_while_a_human_has_the_conversation(pool: asyncpg.Pool) -> None:
    tenant_id, conv = await reminder_conversation(pool)
    async with pool.acquire() as conn:
        reminder = await create_reminder(conn, tenant_id, conv, "daqui a 2 horas", "x", T0, SP)
        await cs.handover(conn, tenant_id, conv, cause="operator", until=None)
    scan = scanner(pool, FakePublisher())
    await scan.run_once(T0 + timedelta(hours=2))
    assert await pool.fetchval("SELECT status FROM reminders WHERE id = $1", reminder.id) == (
        "pending"
    )
    async with pool.acquire() as conn:
        await cs.resume(conn, tenant_id, conv, cause="operator")
    await scan.run_once(T0 + timedelta(hours=2, minutes=16))
    assert len(await outbound(pool, tenant_id, conv)) == 1


async def test_a_delay_too_large_for_a_date_does_not_break_the_plan(pool: asyncpg.Pool) -> None:
    # an imported or hand-edited config: timedelta(minutes=1e30) overflowed on every reply
    plan = {
        "active": True,
        "stages": [{"type": "text", "delay_minutes": 1e30, "message": "Oi?"}],
    }
    tenant_id, conv = await conversation(pool, plan=plan)
    due = (await followup_row(pool, tenant_id, conv))["followup_due_at"]
    assert due is not None and due > T0 + timedelta(days=300)


async def test_one_tenants_broken_config_does_not_hold_back_the_others(pool: asyncpg.Pool) -> None:
    broken_plan = {**PLAN, "allowed_hours": {"enabled": True, "start": "08:00", "end": "20:00"}}
    broken, broken_conv = await conversation(pool, plan=broken_plan)
    # a time zone no database knows: the allowed-hours check raises for this tenant only
    await pool.execute("UPDATE clients SET timezone = 'Mars/Olympus_Mons' WHERE id = $1", broken)
    fine, fine_conv = await conversation(pool)
    publisher = FakePublisher()
    await scanner(pool, publisher).run_once(T0 + timedelta(minutes=60))
    assert [r["content"] for r in await outbound(pool, fine, fine_conv)] == [
        "Oi! Ainda posso ajudar?"
    ]
    assert await outbound(pool, broken, broken_conv) == []
    # set aside, not retried at every scan: its follow-ups stop until the config is fixed
    assert (await followup_row(pool, broken, broken_conv))["followup_due_at"] is None
