"""Storing an inbound message in one statement: conversation upsert, row, status, burst id, events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from lancepilot_ingest.bursts import burst_id_for
from wacommon.repositories import messages as msg_repo
from wacommon.repositories.clients import create_client
from wacommon.schemas import Contact, InboundMessage, MessageKind, Provider


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
    conv, created, stored, status = await msg_repo.store_inbound_in_conversation(
        pool, msg, buffer_if_bot=True, burst_on_store=True, events=True, correlation_id="c1"
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
    again = await msg_repo.store_inbound_in_conversation(
        pool, msg, buffer_if_bot=True, burst_on_store=True, events=True, correlation_id="c2"
    )
    assert again[1] is False and again[2] is None
    assert len(await events_of(pool, tenant)) == 2


async def test_a_conversation_not_the_bots_stores_received_without_burst(
    pool: asyncpg.Pool,
) -> None:
    tenant = str((await create_client(pool, {"name": "Store"}))["id"])
    contact = Contact(key=f"5511{uuid.uuid4().int % 10**9:09d}")
    conv, _, _, _ = await msg_repo.store_inbound_in_conversation(
        pool,
        inbound(tenant, contact),
        buffer_if_bot=False,
        burst_on_store=False,
        events=False,
        correlation_id=None,
    )
    await pool.execute(
        "UPDATE active_conversations SET state = 'human' WHERE client_id = $1 AND id = $2",
        tenant,
        conv["id"],
    )
    conv, created, stored, status = await msg_repo.store_inbound_in_conversation(
        pool,
        inbound(tenant, contact),
        buffer_if_bot=True,
        burst_on_store=True,
        events=True,
        correlation_id="c3",
    )
    assert not created and stored is not None and status == "received"
    row = await msg_repo.get_message(pool, tenant, stored)
    assert row is not None and row["burst_id"] is None
    # the first call logged nothing (events=False); the second only its message
    assert await events_of(pool, tenant) == [("msg_received", "c3")]
