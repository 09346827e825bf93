"""asyncpg pool with JSON codecs; start-up waits for the database with bounded retries."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
import structlog

from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

Pool = asyncpg.Pool


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _release_reset(conn: asyncpg.Connection) -> None:
    """Only roll back what a failed holder left open.

    No session state is used on pooled connections (no LISTEN, SET or advisory
    locks), so asyncpg's default reset query would be a wasted round trip per release.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    settings: Settings,
    *,
    dsn: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    attempts: int = 30,
) -> asyncpg.Pool:
    """Open the pool, retrying while the database is starting."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            pool = await asyncpg.create_pool(
                dsn or settings.database_url,
                min_size=min_size if min_size is not None else settings.db_pool_min,
                max_size=max_size if max_size is not None else settings.db_pool_max,
                init=_init_connection,
                command_timeout=60,
                reset=_release_reset,
            )
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if attempt == attempts:
                raise
            log.warning("db_connect_retry", attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise RuntimeError("unreachable")
