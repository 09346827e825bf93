"""Outbound HTTP connections spread over several small pools.

httpcore's connection pool walks every connection it holds twice per request (on
admission and on release): each idle connection gets a readability check (a poll of its
socket, reached through anyio's attribute lookup) and, for each idle one, the idle ones
are counted again. The cost grows with the square of the connections open to a host.
Under a backlog the sender held about fifty connections to the Graph API and spent some
15 % of its CPU in that walk, which slowed it further (profiled with `bench/e2e.py
--profile`). The same connections split over `shards` independent pools, used in turn,
keep the total but make each walk `shards` times shorter.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    """Round-robin over `shards` `httpx.AsyncHTTPTransport`s sharing `limits` between them."""

    def __init__(self, limits: httpx.Limits, *, shards: int = 8, **options: Any) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")

        def part(total: int | None) -> int | None:
            return None if total is None else max(1, math.ceil(total / shards))

        per_pool = httpx.Limits(
            max_connections=part(limits.max_connections),
            max_keepalive_connections=part(limits.max_keepalive_connections),
            keepalive_expiry=limits.keepalive_expiry,
        )
        self._pools = [httpx.AsyncHTTPTransport(limits=per_pool, **options) for _ in range(shards)]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
