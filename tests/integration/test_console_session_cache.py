"""Sessions kept per process for CONSOLE_SESSION_CACHE_S: revoked in this process, they stop
at once; revoked through another process (another `SessionStore` on the same Redis), within
the cache time. Real Redis, two stores standing for two console processes."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from console.auth.models import CurrentUser
from console.auth.sessions import SessionStore
from tests.integration.console_helpers import console_settings


def _user() -> CurrentUser:
    return CurrentUser(
        id=uuid.uuid4(),
        email=f"cache-{uuid.uuid4().hex[:8]}@example.com",
        name="Ana",
        role="agent",
        tenant_id=uuid.uuid4(),
    )


async def test_a_session_revoked_in_the_same_process_stops_at_once(
    redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    store = SessionStore(redis_client, console_settings(test_env), 12, cache_s=1.0)
    session = await store.create(_user())
    assert await store.get(session.id) == session  # read from Redis, now kept
    assert await store.get(session.id) == session  # from the process's copy
    await store.revoke(session)
    assert await store.get(session.id) is None


async def test_ending_every_session_of_a_user_reaches_this_process_at_once(
    redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    store = SessionStore(redis_client, console_settings(test_env), 12, cache_s=1.0)
    user = _user()
    first, second = await store.create(user), await store.create(user)
    assert await store.get(first.id) == first
    assert await store.get(second.id) == second
    assert await store.revoke_user(user.id, keep=second) == 1
    assert await store.get(first.id) is None
    assert await store.get(second.id) == second


async def test_a_session_revoked_by_another_process_stops_within_the_cache_time(
    redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(test_env)
    here = SessionStore(redis_client, settings, 12, cache_s=0.3)
    there = SessionStore(redis_client, settings, 12, cache_s=0.3)
    session = await here.create(_user())
    assert await here.get(session.id) == session
    await there.revoke(session)
    assert await there.get(session.id) is None
    await asyncio.sleep(0.35)  # the documented bound, not a speed
    assert await here.get(session.id) is None


async def test_a_name_changed_through_another_process_shows_within_the_cache_time(
    redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(test_env)
    here = SessionStore(redis_client, settings, 12, cache_s=0.3)
    there = SessionStore(redis_client, settings, 12, cache_s=0.3)
    user = _user()
    session = await here.create(user)
    assert (await here.get(session.id)) == session
    renamed = CurrentUser(
        id=user.id, email=user.email, name="Ana Paula", role="agent", tenant_id=user.tenant_id
    )
    await there.refresh_user(renamed)
    await asyncio.sleep(0.35)
    found = await here.get(session.id)
    assert found is not None and found.user.name == "Ana Paula"


async def test_without_the_cache_every_read_asks_redis(
    redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(test_env)
    here = SessionStore(redis_client, settings, 12, cache_s=0)
    there = SessionStore(redis_client, settings, 12, cache_s=0)
    session = await here.create(_user())
    assert await here.get(session.id) == session
    await there.revoke(session)
    assert await here.get(session.id) is None


def test_the_cache_time_is_never_above_one_second(test_env: dict[str, str]) -> None:
    store = SessionStore(
        aioredis.Redis(), console_settings(test_env), 12, cache_s=5.0
    )  # never connects
    assert store.cache_s == 1.0
