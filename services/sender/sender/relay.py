"""Outbox relay and sweeper: re-drive every outbox row nothing is driving any more.

Two kinds of rows are left behind, and the sender owns the outbox, so it sweeps for both
for every origin (rag-worker replies, follow-ups, reminders, operator sends):

- `pending` for longer than `RELAY_AFTER_S` (counted from the end of a live sender's pacing
  wait, `paced_until`): the writer committed the row but its `SendReply` publish was lost,
  or the command itself was lost (a retry dropped by the broker, a dead-lettered command,
  a purge);
- `sending` for longer than the takeover window (`SEND_RECONCILE_S`): the sender that
  claimed it died, or its command ran out of retries. No live sender can still be inside
  that window (`sender.deps.check_send_timing`).

For each, a fresh `SendReply` is published and the handler applies the usual rules: a
pending row is claimed (once: the claim is a conditional UPDATE, so a command published
twice, or one still sitting in a retry tier, is harmless); a stale `sending` row is sent
again for Meta (its status webhooks would have reconciled it) and marked `unknown`, never
resent, for Uazapi and LancePilot. So nothing depends on the retry ladder outlasting the
takeover window.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import asyncpg
import structlog

from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import SendReply
from wacommon.broker.topology import PIPELINE
from wacommon.repositories import outbox as outbox_repo

log = structlog.get_logger(__name__)

RELAY_EVERY_S = 15.0
# longer than a healthy publish takes (a pacing wait is covered by `paced_until`)
RELAY_AFTER_S = 30.0


async def relay_once(
    pool: asyncpg.Pool,
    publisher: Publisher,
    *,
    older_than_s: float = RELAY_AFTER_S,
    sending_after_s: float | None = None,
) -> int:
    """Publish a command for each group with a row left behind; the number published.

    Rows `pending` longer than `older_than_s`, and, when `sending_after_s` is given, rows
    `sending` longer than that (the takeover window). One command per reply group: the
    handler walks the whole group in order.
    """
    rows = await outbox_repo.stale_pending(pool, older_than_s)
    if sending_after_s is not None:
        rows = await outbox_repo.stale_sending(pool, sending_after_s) + rows
    published: set[tuple[str, str, str]] = set()
    for row in rows:
        key = f"burst:{row['burst_id']}" if row["burst_id"] else f"row:{row['id']}"
        group = (str(row["client_id"]), str(row["conversation_id"]), key)
        if group in published:
            continue
        await publisher.publish(
            SendReply(
                tenant_id=str(row["client_id"]),
                conversation_id=str(row["conversation_id"]),
                outbound_id=int(row["id"]),
                origin=cast(Any, row["origin"]),
            ),
            exchange=PIPELINE,
        )
        published.add(group)
        log.warning(
            "outbox_relayed", outbound_id=row["id"], origin=row["origin"], status=row["status"]
        )
    return len(published)


async def relay_loop(
    stop: asyncio.Event,
    pool: asyncpg.Pool,
    publisher: Publisher,
    *,
    sending_after_s: float,
) -> None:
    """`relay_once` every `RELAY_EVERY_S` until `stop` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RELAY_EVERY_S)
        if stop.is_set():
            return  # shutting down: the next sender's relay picks up what is left
        try:
            await relay_once(pool, publisher, sending_after_s=sending_after_s)
        except Exception as exc:
            log.warning("outbox_relay_failed", error=repr(exc))
