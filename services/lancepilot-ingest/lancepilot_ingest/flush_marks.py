"""The 'flushed' marks of debounce-off bursts, written in batches after their publish.

A burst of one message is published at once (`Debouncer.flush_now`); its rows are marked
`flushed` by one UPDATE per `interval_s` for every burst of that interval, and at stop. A
mark lost in a crash only makes the recovery loop publish the same burst id again, which
the rag-worker deduplicates. So a tenant's marks the database refuses are dropped
(logged) rather than re-queued with the others forever, and while the database is away
at most `MAX_PENDING` marks wait (the oldest go first).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import asyncpg
import structlog

from lancepilot_ingest.bursts import Burst
from wacommon.infra.infra_errors import is_infrastructure

log = structlog.get_logger(__name__)

MAX_PENDING = 100_000


class FlushMarks:
    """Bursts published but not yet marked, and the task that marks them."""

    def __init__(self, pool: asyncpg.Pool, interval_s: float) -> None:
        self._pool = pool
        self._every = interval_s
        self._pending: list[Burst] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Marks waiting to be written."""
        return len(self._pending)

    def add(self, burst: Burst) -> None:
        """Queue a published burst's mark; the next batch writes it."""
        self._pending.append(burst)
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.warning("debounce_marks_dropped", dropped=dropped, reason="backlog")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while self._pending:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception as exc:
                log.warning("debounce_mark_failed", error=repr(exc), pending=len(self._pending))

    async def flush(self) -> None:
        """Write every pending mark now (kept for a retry on error)."""
        batch, self._pending = self._pending, []
        try:
            await self.write(batch)
        except BaseException:
            self._pending[:0] = batch
            raise

    async def close(self) -> None:
        """Stop the batching task and write what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            await self.flush()

    async def write(self, bursts: list[Burst]) -> None:
        """Mark these bursts' rows `flushed` with their burst ids now (one UPDATE per tenant)."""
        by_tenant: dict[str, tuple[list[int], list[str]]] = defaultdict(lambda: ([], []))
        for b in bursts:
            ids, burst_ids = by_tenant[b.tenant_id]
            ids.extend(b.message_ids)
            burst_ids.extend([b.burst_id] * len(b.message_ids))
        if not by_tenant:
            return
        async with self._pool.acquire() as conn:
            for tenant_id, (ids, burst_ids) in by_tenant.items():
                try:
                    await conn.execute(
                        "UPDATE chat_messages AS m SET status = 'flushed', burst_id = u.burst_id,"
                        " updated_at = now()"
                        " FROM unnest($2::bigint[], $3::text[]) AS u(id, burst_id)"
                        " WHERE m.client_id = $1 AND m.id = u.id AND m.status = 'buffered'",
                        tenant_id,
                        ids,
                        burst_ids,
                    )
                except Exception as exc:
                    if is_infrastructure(exc):
                        raise
                    log.error(
                        "debounce_marks_dropped",
                        tenant_id=tenant_id,
                        dropped=len(ids),
                        error=repr(exc)[:300],
                    )
