"""Storing an inbound message in one statement: conversation upsert, row, status, burst id, events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from lancepilot_ingest.bursts import burst_id_for
from lancepilot_ingest.pipeline import process_inbound, store_plain
from tests.integration.llm_helpers import BOX
from wacommon.broker.schemas import Contact, InboundMessage, MessageKind, Provider
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories.clients import create_client
from wacommon.tenants.config import TenantConfig
from wacommon.tenants.directory import PgTenantDirectory


def inbound(tenant: str, contact: Contact) -> InboundMessage:
    return InboundMessage(
        provider=Provider.META,
        tenant_id=tenant,
        contact=contact,
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        kind=MessageKind.TEXT,
        text="oi",
        sent_at=datetime.now(UTC),
    )


async def events_of(pool: asyncpg.Pool, tenant: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT event_type, correlation_id FROM conversation_events WHERE client_id = $1"
        " ORDER BY id",
        tenant,
    )
    return [(r["event_type"], r["correlation_id"]) for r in rows]


async def test_first_message_creates_the_conversation_buffers_and_logs(pool: asyncpg.Pool) -> None:
    tenant = str((await create_client(pool, {"name": "Store"}))["id"])
    contact = Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}", name="Ana")
    msg = inbound(tenant, contact)
    conv, created, stored, status = await inbound_repo.store_inbound_in_conversation(
        pool, msg, buffer_if_bot=True, burst_on_store=True, correlation_id="c1"
    )
    assert created and stored is not None and status == "buffered"
    assert conv["contact_key"] == contact.key and conv["state"] == "bot"
    row = await msg_repo.get_message(pool, tenant, stored)
    assert row is not None
    # the burst id the debounce would give this one-message burst
    assert row["burst_id"] == burst_id_for(tenant, str(conv["id"]), [stored])
    assert (row["status"], row["direction"], row["content"]) == ("buffered", "in", "oi")
    assert await events_of(pool, tenant) == [("conversation_started", "c1"), ("msg_received", "c1")]

    # the same provider message again: nothing stored, nothing logged
    again = await inbound_repo.store_inbound_in_conversation(
        pool, msg, buffer_if_bot=True, burst_on_store=True, correlation_id="c2"
    )
    assert again[1] is False and again[2] is None
    assert len(await events_of(pool, tenant)) == 2


async def test_a_conversation_not_the_bots_stores_received_without_burst(
    pool: asyncpg.Pool,
) -> None:
    tenant = str((await create_client(pool, {"name": "Store"}))["id"])
    contact = Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}")
    conv, _, _, _ = await inbound_repo.store_inbound_in_conversation(
        pool,
        inbound(tenant, contact),
        buffer_if_bot=False,
        burst_on_store=False,
        correlation_id=None,
    )
    await pool.execute(
        "UPDATE active_conversations SET state = 'human' WHERE client_id = $1 AND id = $2",
        tenant,
        conv["id"],
    )
    conv, created, stored, status = await inbound_repo.store_inbound_in_conversation(
        pool,
        inbound(tenant, contact),
        buffer_if_bot=True,
        burst_on_store=True,
        correlation_id="c3",
    )
    assert not created and stored is not None and status == "received"
    row = await msg_repo.get_message(pool, tenant, stored)
    assert row is not None and row["burst_id"] is None
    # the first call logged the conversation and its message; the second only its message
    assert await events_of(pool, tenant) == [
        ("conversation_started", None),
        ("msg_received", None),
        ("msg_received", "c3"),
    ]


async def plain_tenant(pool: asyncpg.Pool) -> TenantConfig:
    """A tenant with debounce off, as `process_inbound` receives it."""
    created = await create_client(
        pool, {"name": "Plain", "tools_config": {"debounce": {"quiet_seconds": 0}}}
    )
    client = await PgTenantDirectory(pool, BOX).get(str(created["id"]))
    assert client is not None
    return client


async def message_rows(pool: asyncpg.Pool, tenant: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT status, burst_id FROM chat_messages WHERE client_id = $1 ORDER BY id", tenant
    )
    return [(r["status"], r["burst_id"]) for r in rows]


async def test_the_plain_message_is_stored_buffered_by_one_statement(pool: asyncpg.Pool) -> None:
    client = await plain_tenant(pool)
    tenant = client.id
    msg = inbound(tenant, Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}"))
    out = await store_plain(pool, msg, client, correlation_id="p1")
    assert out is not None and out.stored_id is not None and out.buffer
    assert out.debounce is not None and out.debounce.quiet_ms == 0 and out.reason == ""
    # its own burst at once (debounce off), events in the same statement
    burst = burst_id_for(tenant, out.conversation_id or "", [out.stored_id])
    assert await message_rows(pool, tenant) == [("buffered", burst)]
    assert await events_of(pool, tenant) == [("conversation_started", "p1"), ("msg_received", "p1")]

    # a redelivery: a duplicate, nothing stored or logged again
    again = await store_plain(pool, msg, client, correlation_id="p2")
    assert again is not None and again.reason == "duplicate" and again.stored_id is None
    assert len(await message_rows(pool, tenant)) == 1 and len(await events_of(pool, tenant)) == 2

    # the next message of the same (bot's) conversation is plain too
    second = inbound(tenant, msg.contact)
    out2 = await store_plain(pool, second, client, correlation_id="p3")
    assert out2 is not None and out2.buffer and out2.conversation_id == out.conversation_id


@pytest.mark.parametrize(
    "change",
    [
        "state = 'human', state_until = now() + interval '1 hour'",
        "followup_stage = 1, followup_due_at = now() + interval '1 hour'",
        "attributes = jsonb_build_object('last_followup_at', now())",
    ],
)
async def test_a_conversation_with_more_to_do_changes_nothing_and_takes_the_full_path(
    pool: asyncpg.Pool, change: str
) -> None:
    client = await plain_tenant(pool)
    tenant = client.id
    contact = Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}")
    first = await store_plain(pool, inbound(tenant, contact), client, correlation_id="a")
    assert first is not None
    await pool.execute(
        f"UPDATE active_conversations SET {change} WHERE client_id = $1 AND id = $2",
        tenant,
        first.conversation_id,
    )
    before = await pool.fetchrow(
        "SELECT * FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant,
        first.conversation_id,
    )
    msg = inbound(tenant, contact)
    assert await store_plain(pool, msg, client, correlation_id="b") is None
    after = await pool.fetchrow(
        "SELECT * FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant,
        first.conversation_id,
    )
    assert after == before
    assert len(await message_rows(pool, tenant)) == 1
    # the full path then stores it and applies the rules in its transaction
    async with pool.acquire() as conn, conn.transaction():
        out = await process_inbound(conn, msg, client, correlation_id="b")
    assert out.stored_id is not None
    rows = await message_rows(pool, tenant)
    assert len(rows) == 2
    if "followup" in change or "last_followup_at" in change:
        # the customer answered: follow-ups reset, and the message is answered
        assert out.buffer
        reset = await pool.fetchrow(
            "SELECT followup_stage, followup_due_at, attributes FROM active_conversations"
            " WHERE client_id = $1 AND id = $2",
            tenant,
            first.conversation_id,
        )
        assert reset is not None
        assert (reset["followup_stage"], reset["followup_due_at"]) == (0, None)
        assert "last_followup_at" not in reset["attributes"]
    else:
        assert not out.buffer and out.reason == "state_human" and rows[1][0] == "received"


async def test_messages_the_rules_may_stop_never_take_the_plain_statement(
    pool: asyncpg.Pool,
) -> None:
    client = await plain_tenant(pool)
    tenant = client.id
    command = inbound(tenant, Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}"))
    command = command.model_copy(update={"text": "#pausa"})
    campaign = inbound(tenant, Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}"))
    campaign = campaign.model_copy(update={"attributes": {"campaign": {"id": "c1"}}})
    for msg in (command, campaign):
        assert await store_plain(pool, msg, client, correlation_id="x") is None
    assert await message_rows(pool, tenant) == []
