"""Durable debounce against real Redis and PostgreSQL: one flush per burst, across replicas."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis

from lancepilot_ingest.bursts import Burst, DebounceConfig, burst_id_for
from lancepilot_ingest.debounce import Debouncer
from lancepilot_ingest.flush_marks import FlushMarks
from wacommon.infra.settings import Settings
from wacommon.tenants.sections.inbound import DebounceSection

FAST = DebounceConfig(quiet_ms=200, max_wait_ms=2000, max_burst=50)


@pytest.fixture()
def dsettings(settings: Settings) -> Settings:
    """Settings with a Redis prefix of its own (still under the run's prefix, cleaned at exit)."""
    return settings.model_copy(
        update={"redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:8]}:"}
    )


@pytest.fixture()
async def tenant(pool: asyncpg.Pool) -> str:
    return str(await pool.fetchval("INSERT INTO clients (name) VALUES ('debounce') RETURNING id"))


async def new_conversation(pool: asyncpg.Pool, tenant_id: str) -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO active_conversations (client_id, contact_key, provider)"
            " VALUES ($1, $2, 'uazapi') RETURNING id",
            tenant_id,
            uuid.uuid4().hex,
        )
    )


async def store(pool: asyncpg.Pool, tenant_id: str, conversation_id: str, text: str) -> int:
    """What the ingest does before `add`: the row, committed, with status 'buffered'."""
    return int(
        await pool.fetchval(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            " provider_message_id, content, status) VALUES ($1, $2, 'in', 'customer', 'uazapi',"
            " $3, $4, 'buffered') RETURNING id",
            tenant_id,
            conversation_id,
            uuid.uuid4().hex,
            text,
        )
    )


class Recorder:
    """An on_flush that records bursts; can be told to fail its first calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bursts: list[Burst] = []
        self.failed: list[Burst] = []
        self._fail = fail_first

    async def __call__(self, burst: Burst) -> None:
        if self._fail > 0:
            self._fail -= 1
            self.failed.append(burst)
            raise ConnectionError("broker unavailable")
        self.bursts.append(burst)

    def ids_of(self, conversation_id: str) -> list[list[int]]:
        return [b.message_ids for b in self.bursts if b.conversation_id == conversation_id]


@pytest.fixture()
async def running(
    redis_client: aioredis.Redis, dsettings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[Callable[..., Awaitable[Debouncer]]]:
    """Start `Debouncer.run` loops; they are stopped at the end of the test."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(on_flush: Recorder, **kwargs: object) -> Debouncer:
        # the session database is shared: never sweep up other tests' buffered rows
        kwargs.setdefault("recover_min_age_s", 10 * 365 * 86400.0)
        deb = Debouncer(redis_client, dsettings, pool, **kwargs)  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(deb.run(stop, on_flush)))
        return deb

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def statuses(pool: asyncpg.Pool, tenant_id: str, ids: list[int]) -> set[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT status, burst_id FROM chat_messages WHERE client_id = $1 AND id = ANY($2)",
        tenant_id,
        ids,
    )
    return {(r["status"], r["burst_id"]) for r in rows}


def test_config_from_the_debounce_section() -> None:
    section = DebounceSection.model_validate(
        {
            "quiet_seconds": 0,
            "max_wait_seconds": 12.5,
            "max_burst": 7,
            "flush_keywords": ["Pronto", "?"],
        }
    )
    cfg = DebounceConfig.from_section(section)
    assert cfg == DebounceConfig(0, 12500, 7, ("pronto", "?"))
    assert DebounceConfig.from_section(None) == DebounceConfig()
    assert cfg.is_flush_keyword("ok, PRONTO!") and cfg.is_flush_keyword("tem entrega?")
    assert not cfg.is_flush_keyword("prontos para comprar")


async def test_burst_of_five_flushes_once_in_order(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder()
    deb = await running(rec)
    conv = await new_conversation(pool, tenant)
    base = datetime.now(UTC)
    ids = [await store(pool, tenant, conv, f"part {i}") for i in range(5)]
    # webhooks arrive out of order: the burst follows the message times
    for i in (0, 2, 1, 4, 3):
        await deb.add(tenant, conv, ids[i], f"part {i}", base + timedelta(seconds=i), FAST)
    await wait_until(lambda: len(rec.bursts) == 1)
    await asyncio.sleep(0.5)
    assert rec.ids_of(conv) == [ids]
    burst = rec.bursts[0]
    assert burst.burst_id == burst_id_for(tenant, conv, ids)
    assert abs((burst.first_message_at - base).total_seconds()) < 0.002
    assert await statuses(pool, tenant, ids) == {("flushed", burst.burst_id)}


async def test_redelivered_messages_are_not_answered_twice(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder()
    deb = await running(rec)
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(2)]
    for mid in [*ids, ids[0]]:  # the broker redelivers the first message while buffered
        await deb.add(tenant, conv, mid, "m", datetime.now(UTC), FAST)
    await wait_until(lambda: len(rec.bursts) == 1)
    # and once more after the flush: refused while the flush settles, or buffered again in Redis
    # and then filtered out because its row is no longer `buffered`; answered once either way
    await deb.add(tenant, conv, ids[1], "m", datetime.now(UTC), FAST)
    late = await store(pool, tenant, conv, "late")
    await deb.add(tenant, conv, late, "late", datetime.now(UTC), FAST)
    await wait_until(lambda: len(rec.bursts) == 2)
    await asyncio.sleep(0.4)
    assert rec.ids_of(conv) == [ids, [late]]


async def test_quiet_window_slides(
    running: Callable[..., Awaitable[Debouncer]],
    pool: asyncpg.Pool,
    tenant: str,
    redis_client: aioredis.Redis,
    dsettings: Settings,
) -> None:
    rec = Recorder()
    deb = await running(rec)
    conv = await new_conversation(pool, tenant)
    cfg = DebounceConfig(quiet_ms=1500, max_wait_ms=20000)
    due = dsettings.rkey("debounce", "due")
    ids, deadlines = [], []
    for i in range(3):
        ids.append(await store(pool, tenant, conv, f"m{i}"))
        await deb.add(tenant, conv, ids[-1], f"m{i}", datetime.now(UTC), cfg)
        deadlines.append(await redis_client.zscore(due, f"{tenant}:{conv}"))
        await asyncio.sleep(0.3)
    assert deadlines[0] < deadlines[1] < deadlines[2]
    assert deadlines[2] - deadlines[0] >= 600
    await wait_until(lambda: len(rec.bursts) == 1)
    assert rec.ids_of(conv) == [ids]


async def test_max_wait_flushes_while_customer_keeps_typing(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder()
    deb = await running(rec)
    conv = await new_conversation(pool, tenant)
    cfg = DebounceConfig(quiet_ms=400, max_wait_ms=600, max_burst=100)
    ids = []
    for i in range(14):
        ids.append(await store(pool, tenant, conv, f"m{i}"))
        await deb.add(tenant, conv, ids[-1], f"m{i}", datetime.now(UTC), cfg)
        await asyncio.sleep(0.1)
    flushed_while_typing = len(rec.bursts)
    await wait_until(lambda: sum(len(b) for b in rec.ids_of(conv)) == len(ids))
    assert flushed_while_typing >= 1
    assert [i for burst in rec.ids_of(conv) for i in burst] == ids


async def test_flush_keyword_and_max_burst_flush_now(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder()
    deb = await running(rec)
    slow = DebounceConfig(quiet_ms=60000, max_wait_ms=60000, max_burst=3, flush_keywords=("fim",))
    conv_kw, conv_max = await new_conversation(pool, tenant), await new_conversation(pool, tenant)
    kw_ids = []
    for text in ("quero pizza", "grande", "é isso, fim."):
        kw_ids.append(await store(pool, tenant, conv_kw, text))
        await deb.add(tenant, conv_kw, kw_ids[-1], text, datetime.now(UTC), slow)
    max_ids = []
    for i in range(3):
        max_ids.append(await store(pool, tenant, conv_max, f"m{i}"))
        await deb.add(tenant, conv_max, max_ids[-1], f"m{i}", datetime.now(UTC), slow)
    await wait_until(lambda: len(rec.bursts) == 2, timeout=20)
    assert rec.ids_of(conv_kw) == [kw_ids]
    assert rec.ids_of(conv_max) == [max_ids]


async def test_two_replicas_flush_each_burst_exactly_once(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder()
    replicas = [await running(rec, batch=8) for _ in range(3)]
    convs = [await new_conversation(pool, tenant) for _ in range(40)]
    expected: dict[str, list[list[int]]] = {c: [] for c in convs}

    async def customer(n: int, conv: str) -> None:
        for _burst in range(2):
            ids = []
            for i in range(3):
                ids.append(await store(pool, tenant, conv, f"m{i}"))
                deb = replicas[(n + i) % len(replicas)]  # webhooks land on any replica
                await deb.add(tenant, conv, ids[-1], f"m{i}", datetime.now(UTC), FAST)
                await asyncio.sleep(0.02)
            expected[conv].append(ids)
            await wait_until(lambda ids=ids: ids in rec.ids_of(conv))  # type: ignore[misc]

    await asyncio.gather(*(customer(n, c) for n, c in enumerate(convs)))
    await asyncio.sleep(0.5)
    assert len(rec.bursts) == 80
    assert {c: rec.ids_of(c) for c in convs} == expected


async def test_claim_abandoned_by_a_dead_poller_is_flushed_after_the_lease(
    running: Callable[..., Awaitable[Debouncer]],
    pool: asyncpg.Pool,
    tenant: str,
    redis_client: aioredis.Redis,
    dsettings: Settings,
) -> None:
    dead = Debouncer(redis_client, dsettings, pool, lease_ms=600)
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(2)]
    for i, mid in enumerate(ids):
        await dead.add(tenant, conv, mid, f"m{i}", datetime.now(UTC), DebounceConfig(quiet_ms=0))
    claims, _ = await dead._claim()  # claims, then "dies" without flushing
    assert [c.conversation_id for c in claims] == [conv]
    late = await store(pool, tenant, conv, "late")
    await dead.add(tenant, conv, late, "late", datetime.now(UTC), DebounceConfig(quiet_ms=0))

    rec = Recorder()
    await running(rec, lease_ms=600)
    await wait_until(lambda: len(rec.bursts) == 2)
    await asyncio.sleep(0.3)
    # the abandoned burst first (same id as the dead poller's), then the message that came after
    assert rec.ids_of(conv) == [ids, [late]]
    assert rec.bursts[0].burst_id == burst_id_for(tenant, conv, ids)


async def test_on_flush_failure_is_retried_and_flushed_once(
    running: Callable[..., Awaitable[Debouncer]], pool: asyncpg.Pool, tenant: str
) -> None:
    rec = Recorder(fail_first=2)
    deb = await running(rec, retry_delay_ms=100)
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(3)]
    for i, mid in enumerate(ids):
        await deb.add(tenant, conv, mid, f"m{i}", datetime.now(UTC), FAST)
    await wait_until(lambda: len(rec.bursts) == 1)
    await asyncio.sleep(0.4)
    assert rec.ids_of(conv) == [ids]
    assert [b.burst_id for b in rec.failed] == [rec.bursts[0].burst_id] * 2
    assert await statuses(pool, tenant, ids) == {("flushed", rec.bursts[0].burst_id)}


async def test_redis_wiped_buffers_are_recovered_from_postgres(
    running: Callable[..., Awaitable[Debouncer]],
    pool: asyncpg.Pool,
    tenant: str,
    redis_client: aioredis.Redis,
    dsettings: Settings,
) -> None:
    deb = Debouncer(redis_client, dsettings, pool)
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(3)]
    for i, mid in enumerate(ids):
        await deb.add(tenant, conv, mid, f"m{i}", datetime.now(UTC), DebounceConfig())
    keys = [k async for k in redis_client.scan_iter(match=f"{dsettings.redis_prefix}*")]
    assert keys
    await redis_client.delete(*keys)  # Redis lost its data

    assert await deb.recover(tenant_id=tenant) == 3
    assert await deb.recover(tenant_id=tenant) == 0  # already buffered: nothing added twice
    rec = Recorder()
    await running(rec)
    await wait_until(lambda: len(rec.bursts) == 1)
    await asyncio.sleep(0.3)
    assert rec.ids_of(conv) == [ids]
    assert await deb.recover(tenant_id=tenant) == 0  # flushed rows are not buffered again


@pytest.mark.parametrize("lost", ["due", "claimed"])
async def test_buffers_orphaned_by_a_partial_redis_loss_are_recovered(
    running: Callable[..., Awaitable[Debouncer]],
    pool: asyncpg.Pool,
    tenant: str,
    redis_client: aioredis.Redis,
    dsettings: Settings,
    lost: str,
) -> None:
    """Redis kept the buffer (or the in-flight snapshot) but lost the entry pointing at it."""
    deb = Debouncer(redis_client, dsettings, pool)
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(2)]
    for i, mid in enumerate(ids):
        await deb.add(tenant, conv, mid, f"m{i}", datetime.now(UTC), FAST)
    if lost == "claimed":
        await asyncio.sleep(FAST.quiet_ms / 1000 + 0.1)
        claims, _ = await deb._claim()  # a replica claimed the burst, then died
        assert [c.conversation_id for c in claims] == [conv]
    await redis_client.delete(dsettings.rkey("debounce", lost))
    assert await deb.recover(tenant_id=tenant) == 1  # the one conversation, repaired
    rec = Recorder()
    await running(rec, lease_ms=60_000)
    await wait_until(lambda: len(rec.bursts) == 1)
    await asyncio.sleep(0.3)
    assert rec.ids_of(conv) == [ids]


async def test_debounce_off_marks_flushed_in_batches_and_on_close(
    redis_client: aioredis.Redis, dsettings: Settings, pool: asyncpg.Pool, tenant: str
) -> None:
    conv = await new_conversation(pool, tenant)
    rec = Recorder()
    # a mark interval longer than the test: only close() writes the marks
    deb = Debouncer(redis_client, dsettings, pool, mark_interval_s=3600)
    ids = [await store(pool, tenant, conv, f"m{i}") for i in range(3)]
    bursts = [await deb.flush_now(tenant, conv, i, datetime.now(UTC), rec) for i in ids]
    assert rec.ids_of(conv) == [[i] for i in ids]
    # published but not marked yet: still `buffered`, which `recover` would publish again
    assert {s for s, _ in await statuses(pool, tenant, ids)} == {"buffered"}
    await deb.close()
    assert await statuses(pool, tenant, ids) == {("flushed", b.burst_id) for b in bursts}

    # with a short interval the marks are written without a close
    fast = Debouncer(redis_client, dsettings, pool, mark_interval_s=0.01)
    more = [await store(pool, tenant, conv, f"n{i}") for i in range(2)]
    for i in more:
        await fast.flush_now(tenant, conv, i, datetime.now(UTC), rec)
    deadline = time.monotonic() + 10
    while {s for s, _ in await statuses(pool, tenant, more)} != {"flushed"}:
        assert time.monotonic() < deadline, "marks not written"
        await asyncio.sleep(0.02)
    await fast.close()


async def test_a_mark_the_database_refuses_does_not_hold_back_the_others(
    pool: asyncpg.Pool, tenant: str
) -> None:
    conv = await new_conversation(pool, tenant)
    ids = [await store(pool, tenant, conv, f"p{i}") for i in range(2)]
    marks = FlushMarks(pool, interval_s=3600)
    now = datetime.now(UTC)
    good = [Burst(tenant, conv, f"b-{i}", [i], now) for i in ids]
    marks.add(Burst("not-a-tenant-id", conv, "b-bad", [1], now))  # the uuid column refuses it
    for b in good:
        marks.add(b)
    await marks.flush()  # does not raise: the refused mark is dropped (recovery re-publishes)
    assert await statuses(pool, tenant, ids) == {("flushed", b.burst_id) for b in good}
    assert marks.pending == 0
    await marks.close()
