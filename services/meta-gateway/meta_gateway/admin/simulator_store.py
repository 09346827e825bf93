"""What the simulator stores: the burst as inbound messages of the session's `sandbox`
conversation, and the bot's bubbles as messages already sent (the sandbox delivers nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import asyncpg

from wacommon.broker.schemas import Contact, InboundMessage, MessageKind, Provider, utcnow
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo


async def store_burst(
    pool: asyncpg.Pool,
    cid: str,
    contact: Contact,
    burst_id: str,
    messages: list[str],
    now: datetime,
) -> tuple[dict[str, Any], list[int]]:
    """The session's conversation (made on first use) and the ids of the burst's messages."""
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        conv, _ = await conv_repo.upsert_for_message(
            conn,
            cid,
            contact,
            provider=Provider.SANDBOX.value,
            instance_id=None,
            at=now,
            role="customer",
        )
        conv_id = str(conv["id"])
        burst_ids: list[int] = []
        for i, text in enumerate(messages):
            stored = await msg_repo.store_inbound(
                conn,
                InboundMessage(
                    provider=Provider.SANDBOX,
                    tenant_id=cid,
                    contact=contact,
                    provider_message_id=f"{burst_id}:{i}",
                    kind=MessageKind.TEXT,
                    text=text,
                    sent_at=now,
                ),
                conv_id,
            )
            assert stored is not None
            burst_ids.append(stored)
    return conv, burst_ids


async def store_replies(
    pool: asyncpg.Pool, tenant_id: str, conv_id: str, burst_id: str, replies: list[str]
) -> None:
    """The bot's bubbles, stored as already sent (the sandbox delivers nothing)."""
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        for i, text in enumerate(replies):
            new_id = await msg_repo.insert_outbound(
                conn,
                tenant_id,
                conv_id,
                provider=Provider.SANDBOX.value,
                instance_id=None,
                role="bot",
                kind="text",
                content=text,
                payload={"origin": "bot", "simulated": True},
                idempotency_key=f"{burst_id}:{i}",
                burst_id=burst_id,
            )
            if new_id is not None:
                await outbox_repo.mark_sent(conn, tenant_id, new_id, None)
        if replies:
            await conv_repo.record_outbound(conn, tenant_id, conv_id, role="bot", at=utcnow())
