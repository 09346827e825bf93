"""TTLCache: loads once per key within the time to live, again after it."""

from __future__ import annotations

import time

import pytest

from wacommon.infra.cache import TTLCache


async def test_values_are_reused_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    cache: TTLCache[str, int] = TTLCache(ttl_s=5)
    loads: list[str] = []

    async def load(key: str) -> int:
        loads.append(key)
        return len(loads)

    assert await cache.get("a", lambda: load("a")) == 1
    assert await cache.get("a", lambda: load("a")) == 1
    assert await cache.get("b", lambda: load("b")) == 2
    clock[0] += 5.1
    assert await cache.get("a", lambda: load("a")) == 3
    cache.invalidate("a")
    assert await cache.get("a", lambda: load("a")) == 4
    assert loads == ["a", "b", "a", "a"]
