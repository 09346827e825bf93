"""The event-log writer: one call appends a `conversation_events` row.

Appends inside a caller's transaction (pass `conn`) commit atomically with the
effect they describe; the buffered writer batches hot-path appends and flushes
everything it holds on close.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import structlog

from wacommon.dbtypes import Conn

log = structlog.get_logger(__name__)

_INSERT = (
    "INSERT INTO conversation_events (client_id, conversation_id, event_type, data,"
    " correlation_id, created_at) VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))"
)


class EventLog(Protocol):
    """Appends events to the conversation event log."""

    async def append(
        self,
        client_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
        conn: Conn | None = None,
    ) -> None: ...


class PgEventLog:
    """Writes events with the pool, or inside the caller's transaction when `conn` is given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self,
        client_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
        conn: Conn | None = None,
    ) -> None:
        args = (client_id, conversation_id, event_type, data or {}, correlation_id, at)
        if conn is not None:
            await conn.execute(_INSERT, *args)
        else:
            await self._pool.execute(_INSERT, *args)


class BufferedEventLog(PgEventLog):
    """Batches pool appends (not transactional ones) and flushes them every `interval`."""

    def __init__(self, pool: asyncpg.Pool, *, interval: float = 0.2, max_batch: int = 500) -> None:
        super().__init__(pool)
        self._buffer: list[tuple[Any, ...]] = []
        self._interval = interval
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def append(
        self,
        client_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
        conn: Conn | None = None,
    ) -> None:
        if conn is not None:
            await super().append(
                client_id,
                event_type,
                data,
                conversation_id=conversation_id,
                correlation_id=correlation_id,
                at=at,
                conn=conn,
            )
            return
        self._buffer.append(
            (client_id, conversation_id, event_type, data or {}, correlation_id, at)
        )
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if len(self._buffer) >= self._max_batch:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                await self._pool.executemany(_INSERT, batch)
            except Exception:
                # keep what could not be written for the next flush
                self._buffer[:0] = batch
                raise

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


class NullEventLog:
    """Discards events: for work that must stay out of the log (the simulator)."""

    async def append(
        self,
        client_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
        conn: Conn | None = None,
    ) -> None:
        return None


class FakeEventLog:
    """Records events in memory, for unit tests."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def append(
        self,
        client_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
        conn: Conn | None = None,
    ) -> None:
        self.events.append(
            {
                "client_id": client_id,
                "event_type": event_type,
                "data": data or {},
                "conversation_id": conversation_id,
                "correlation_id": correlation_id,
                "at": at,
            }
        )

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == event_type]
