"""A small in-process cache with a time to live, for lookups on every message.

Provider routes and credentials change rarely and are read for every message; a few
seconds of staleness saves several queries per message. (Tenant configuration is not
cached here: `wacommon.tenants.directory.PgTenantDirectory` drops an entry when PostgreSQL notifies a
change.)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Values loaded on a miss and kept `ttl_s` seconds (misses included)."""

    def __init__(self, ttl_s: float, max_items: int = 10_000) -> None:
        self._ttl = ttl_s
        self._max = max_items
        self._items: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._items) >= self._max:
            self._items.clear()
        self._items[key] = (now + self._ttl, value)
        return value

    def invalidate(self, key: K) -> None:
        self._items.pop(key, None)
