"""A connection type that covers pool-acquired proxies, and event appends inside a transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import asyncpg

from wacommon.dbtypes import Conn
from wacommon.events import PgEventLog

__all__ = ["Conn", "append_event"]

# every append passes the caller's connection, so the pool is never used
_EVENTS = PgEventLog(cast(asyncpg.Pool, None))


async def append_event(
    conn: Conn,
    client_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    conversation_id: str | None,
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append a `conversation_events` row in the transaction `conn` holds."""
    await _EVENTS.append(
        client_id,
        event_type,
        data,
        conversation_id=conversation_id,
        correlation_id=correlation_id,
        at=at,
        conn=conn,
    )
