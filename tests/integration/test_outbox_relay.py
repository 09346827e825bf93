"""The sender's outbox relay: a row whose command was lost is published again, for every origin."""

from __future__ import annotations

import uuid

import asyncpg

from sender.relay import relay_once
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import Contact, SendReply, utcnow
from wacommon.broker.topology import PIPELINE
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo


async def outbox_row(pool: asyncpg.Pool, origin: str, *, age_s: float, status: str) -> int:
    tenant = await clients_repo.create_client(
        pool, {"name": "relay", "api_url": "https://uaz.example", "token": uuid.uuid4().hex}
    )
    conv, _ = await conv_repo.upsert_for_message(
        pool,
        str(tenant["id"]),
        Contact(key=f"55119{uuid.uuid4().int % 10**8:08d}"),
        provider="uazapi",
        instance_id=None,
        at=utcnow(),
        role="customer",
    )
    row_id = await msg_repo.insert_outbound(
        pool,
        str(tenant["id"]),
        str(conv["id"]),
        provider="uazapi",
        instance_id=None,
        role="bot",
        kind="text",
        content="olá",
        payload={"origin": origin},
        idempotency_key=f"relay:{uuid.uuid4().hex}",
    )
    assert row_id is not None
    await pool.execute(
        "UPDATE chat_messages SET status = $2, updated_at = now() - make_interval(secs => $3)"
        " WHERE id = $1",
        row_id,
        status,
        age_s,
    )
    return row_id


async def test_rows_left_pending_are_published_again_and_only_those(pool: asyncpg.Pool) -> None:
    # older than anything other tests of this session left pending (the relay goes oldest first)
    lost = {
        origin: await outbox_row(pool, origin, age_s=10**8, status="pending")
        for origin in ("bot", "followup", "reminder", "operator")
    }
    fresh = await outbox_row(pool, "bot", age_s=1, status="pending")
    sent = await outbox_row(pool, "bot", age_s=120, status="sent")
    in_flight = await outbox_row(pool, "followup", age_s=120, status="sending")
    publisher = FakePublisher()

    assert await relay_once(pool, publisher, older_than_s=30) >= len(lost)

    ours = {*lost.values(), fresh, sent, in_flight}
    relayed = {
        m.outbound_id: m.origin
        for m in publisher.of_type(SendReply)
        if isinstance(m, SendReply) and m.outbound_id in ours
    }
    assert {exchange for exchange, _, _ in publisher.published} == {PIPELINE}
    assert relayed == {row_id: origin for origin, row_id in lost.items()}
