"""Outbox relay: publish again the command of outbox rows whose publish was lost.

Every writer (rag-worker replies, follow-ups, reminders, operator sends) commits the outbox
row first and publishes the `SendReply` after; a crash or a broker outage between the two
leaves a `pending` row nobody will send. The sender owns the outbox, so it sweeps for them
for every origin; the handler's claim makes a command published twice harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import asyncpg
import structlog

from wacommon.broker.publisher import Publisher
from wacommon.broker.topology import PIPELINE
from wacommon.repositories import outbox as outbox_repo
from wacommon.schemas import SendReply

log = structlog.get_logger(__name__)

RELAY_EVERY_S = 15.0
# longer than a healthy publish or a pacing wait (both touch `updated_at`) ever takes
RELAY_AFTER_S = 30.0


async def relay_once(
    pool: asyncpg.Pool, publisher: Publisher, *, older_than_s: float = RELAY_AFTER_S
) -> int:
    """Publish a command for each outbox row pending longer than `older_than_s`."""
    rows = await outbox_repo.stale_pending(pool, older_than_s)
    for row in rows:
        await publisher.publish(
            SendReply(
                tenant_id=str(row["client_id"]),
                conversation_id=str(row["conversation_id"]),
                outbound_id=int(row["id"]),
                origin=cast(Any, row["origin"]),
            ),
            exchange=PIPELINE,
        )
        log.warning("outbox_relayed", outbound_id=row["id"], origin=row["origin"])
    return len(rows)


async def relay_loop(stop: asyncio.Event, pool: asyncpg.Pool, publisher: Publisher) -> None:
    """`relay_once` every `RELAY_EVERY_S` until `stop` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RELAY_EVERY_S)
        try:
            await relay_once(pool, publisher)
        except Exception as exc:
            log.warning("outbox_relay_failed", error=repr(exc))
