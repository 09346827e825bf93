"""Connection types: what a repository function accepts (a connection, a pooled one, or the pool)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any]
    Executor: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any] | asyncpg.Pool
else:
    Conn = Any
    Executor = Any
