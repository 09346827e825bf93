"""The only writer of `conversation_events` rows, in two forms chosen by the guarantee.

- An event that must commit iff its effect does is written in the transaction that
  makes the effect: `record_event(conn, ...)`, or, for a statement that decides its
  outcome in SQL, `INSERT_EVENTS` inside that statement. Tests and production run the
  same code: these rows always land in PostgreSQL.
- An event about no write of ours (model usage, a tool call, media processed, a provider notice) goes
  through the `EventLog` port, which never joins a transaction: `BufferedEventLog`
  batches them off the hot path, `NullEventLog` drops them (the simulator),
  `FakeEventLog` keeps them in memory for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import structlog
from prometheus_client import Counter

from wacommon.infra.dbtypes import Conn
from wacommon.infra.infra_errors import is_infrastructure
from wacommon.infra.textclean import storable_text

log = structlog.get_logger(__name__)

EVENTS_REJECTED = Counter(
    "wa_event_log_rejected_total",
    "Events the database refused, set aside in event_log_rejects",
    ["event_type"],
)
EVENTS_OVERFLOW = Counter(
    "wa_event_log_overflow_total",
    "Buffered events pushed out of memory (to the log) while the database was unreachable",
)

_Row = tuple[Any, ...]

# the head of every statement that writes events: follow it with VALUES or a SELECT of
# (tenant, conversation, type, data, correlation id, time)
INSERT_EVENTS = (
    "INSERT INTO conversation_events"
    " (client_id, conversation_id, event_type, data, correlation_id, created_at)"
)
_INSERT = f"{INSERT_EVENTS} VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))"


async def record_event(
    conn: Conn,
    tenant_id: str,
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    conversation_id: str | None,
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append the event in the transaction `conn` holds: it commits iff the effect does."""
    await conn.execute(
        _INSERT, tenant_id, conversation_id, event_type, data or {}, correlation_id, at
    )


class EventLog(Protocol):
    """Appends events that ride on no transaction of the caller (see the module's note)."""

    async def append(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> None: ...


class PgEventLog:
    """Writes each event at once with a pooled connection (tests; `BufferedEventLog` batches)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        await self._pool.execute(
            _INSERT, tenant_id, conversation_id, event_type, data or {}, correlation_id, at
        )


class BufferedEventLog(PgEventLog):
    """Batches appends and flushes them every `interval`.

    A batch the database refuses for one of its rows is written again row by row: each
    refused row goes to `event_log_rejects` with its error (counted, logged once), the
    others land. An outage keeps the batch for the next flush, but never more than
    `max_buffer` rows: past that the oldest are written to the log (so they can still be
    replayed from it) and counted, rather than growing the heap until the service dies.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval: float = 0.2,
        max_batch: int = 500,
        max_buffer: int = 100_000,
    ) -> None:
        super().__init__(pool)
        self._buffer: deque[_Row] = deque()
        self._interval = interval
        self._max_batch = max_batch
        self._max_buffer = max(max_buffer, 1)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Events held in memory, not yet written."""
        return len(self._buffer)

    async def append(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self._keep([(tenant_id, conversation_id, event_type, data or {}, correlation_id, at)])
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if len(self._buffer) >= self._max_batch and not self._lock.locked():
            await self.flush()

    def _keep(self, rows: list[_Row], *, front: bool = False) -> None:
        if front:
            self._buffer.extendleft(reversed(rows))
        else:
            self._buffer.extend(rows)
        over = len(self._buffer) - self._max_buffer
        if over <= 0:
            return
        EVENTS_OVERFLOW.inc(over)
        for _ in range(over):
            row = self._buffer.popleft()
            log.error(
                "event_log_overflow",
                tenant_id=row[0],
                conversation_id=row[1],
                event_type=row[2],
                data=row[3],
                correlation_id=row[4],
                at=row[5].isoformat() if row[5] else None,
                max_buffer=self._max_buffer,
            )

    async def flush(self) -> None:
        async with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
            if not batch:
                return
            try:
                await self._pool.executemany(_INSERT, batch)
            except Exception as exc:
                if is_infrastructure(exc):
                    # keep what could not be written for the next flush
                    self._keep(batch, front=True)
                    raise
                await self._row_by_row(batch)

    async def _row_by_row(self, batch: list[_Row]) -> None:
        """Write a refused batch one row at a time; refused rows go to the side table."""
        for i, row in enumerate(batch):
            try:
                await self._pool.execute(_INSERT, *row)
            except Exception as exc:
                if is_infrastructure(exc):
                    self._keep(batch[i:], front=True)
                    raise
                try:
                    await self._reject(row, exc)
                except BaseException:
                    # the side table could not take it either: nothing is dropped
                    self._keep(batch[i:], front=True)
                    raise

    async def _reject(self, row: _Row, exc: Exception) -> None:
        tenant_id, conversation_id, event_type, data, correlation_id, at = row
        error = storable_text(f"{type(exc).__name__}: {exc}")[:2000]
        EVENTS_REJECTED.labels(storable_text(str(event_type))[:64]).inc()
        log.error("event_rejected", tenant_id=str(tenant_id), event_type=event_type, error=error)
        await self._pool.execute(
            "INSERT INTO event_log_rejects (client_id, conversation_id, event_type, data,"
            " correlation_id, event_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            _text(tenant_id),
            _text(conversation_id),
            _text(event_type) or "",
            _evidence(data),
            _text(correlation_id),
            at if isinstance(at, datetime) else None,
            error,
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:
                log.warning("event_flush_failed", error=str(exc), pending=len(self._buffer))

    async def close(self) -> None:
        """Flush everything buffered; called on clean shutdown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


def _text(value: object) -> str | None:
    return None if value is None else storable_text(str(value))


def _evidence(data: object) -> str:
    """The refused event's data as text, whatever made jsonb refuse it."""
    try:
        text = json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(data)
    return storable_text(text)


class NullEventLog:
    """Discards events: for work that must stay out of the log (the simulator)."""

    async def append(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        return None


class FakeEventLog:
    """Records events in memory, for unit tests."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def append(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self.events.append(
            {
                "client_id": tenant_id,
                "event_type": event_type,
                "data": data or {},
                "conversation_id": conversation_id,
                "correlation_id": correlation_id,
                "at": at,
            }
        )

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == event_type]
