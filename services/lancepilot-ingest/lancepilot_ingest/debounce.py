"""Durable debounce: answer a burst of customer messages once, after the customer stops typing.

Redis holds the working state, PostgreSQL the truth:
- the caller stores each inbound customer message with `chat_messages.status = 'buffered'`,
  commits, then calls `Debouncer.add`;
- per (tenant, conversation) Redis keeps a buffer (`b:` hash id -> message time, `a:` zset
  id -> arrival) and one entry in the `due` sorted set scored by the flush deadline:
  min(last arrival + quiet, first arrival + max wait), or now on a flush keyword or when the
  burst reaches its maximum size. Arrivals use Redis `TIME`, one clock for every replica;
- `run` polls `due` (about every 20 ms, sooner when the next deadline is nearer) and claims due
  conversations atomically in Lua: the buffer is renamed to an in-flight snapshot (`f:`) and
  the conversation gets a lease in `claimed` with a fencing token. Claims whose lease expired
  (a crashed replica) are re-claimed by anyone, with the same snapshot, so the same burst id;
- a flush keeps only ids still 'buffered' in PostgreSQL, calls `on_flush` (publish with a
  confirm), marks the rows 'flushed' with the burst id, then drops snapshot and claim. When
  `on_flush` raises the claim is released for a retry after `retry_delay_ms`. A crash between
  `on_flush` and the row update re-publishes the same burst id: consumers deduplicate on it;
- `recover` re-buffers 'buffered' rows missing from Redis (Redis lost its data); `run` calls it
  at start and every `recover_interval_s` for rows older than `recover_min_age_s`.

Overlap policy: a message arriving while a flushed burst is being answered starts the next
burst (a fresh buffer with its own window). A conversation never has two bursts in flight at
once in this module, and the rag-worker checks staleness (newer customer messages than the
burst) before sending. The Lua scripts build per-conversation key names from a prefix, so they
target a single Redis node (no cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis
import structlog

from lancepilot_ingest.bursts import Burst, Claim, DebounceConfig, burst_id_for
from lancepilot_ingest.debounce_scripts import ADD_LUA, CLAIM_LUA, FORCE_FIELD, SETTLE_LUA
from lancepilot_ingest.flush_marks import FlushMarks
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

# after a failed claim (Redis unreachable), wait this long, doubling up to the maximum
CLAIM_RETRY_MS = 250.0
CLAIM_RETRY_MAX_MS = 5000.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Debouncer:
    """Buffers inbound messages per conversation in Redis and flushes each burst exactly once."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        poll_interval_s: float = 0.02,
        lease_ms: int = 30000,
        retry_delay_ms: int = 1000,
        batch: int = 200,
        max_inflight_batches: int = 8,
        recover_interval_s: float = 30.0,
        recover_min_age_s: float = 90.0,
        mark_interval_s: float = 0.05,
    ) -> None:
        self._redis = redis
        self._pool = pool
        self._prefix = settings.rkey("debounce", "")
        self._due = settings.rkey("debounce", "due")
        self._claimed = settings.rkey("debounce", "claimed")
        self._tokens = settings.rkey("debounce", "tokens")
        self._poll = poll_interval_s
        self._lease_ms = lease_ms
        self._retry_ms = retry_delay_ms
        self._batch = batch
        self._slots = asyncio.Semaphore(max_inflight_batches)
        self._recover_every = recover_interval_s
        self._recover_age = recover_min_age_s
        # debounce-off bursts published but not yet marked 'flushed' (see flush_now)
        self._marks = FlushMarks(pool, mark_interval_s)
        self._add = redis.register_script(ADD_LUA)
        self._claim_script = redis.register_script(CLAIM_LUA)
        self._settle_script = redis.register_script(SETTLE_LUA)

    def _keys(self, member: str) -> list[str]:
        return [self._due, *(f"{self._prefix}{kind}:{member}" for kind in ("b", "a", "f"))]

    async def add(
        self,
        tenant_id: str,
        conversation_id: str,
        message_id: int,
        text: str,
        at: datetime,
        config: DebounceConfig,
    ) -> datetime | None:
        """Buffer a stored message (status 'buffered'); returns the burst's new deadline.

        None when the message was already buffered or is being flushed (a redelivery).
        """
        force = config.quiet_ms <= 0 or config.is_flush_keyword(text)
        deadline = await self._buffer(tenant_id, conversation_id, message_id, at, config, force, 0)
        return datetime.fromtimestamp(deadline / 1000, UTC) if deadline else None

    async def _buffer(
        self,
        tenant_id: str,
        conversation_id: str,
        message_id: int,
        at: datetime,
        config: DebounceConfig,
        force: bool,
        arrival_ms: int,
    ) -> int:
        member = f"{tenant_id}:{conversation_id}"
        added = await self._add(
            keys=self._keys(member),
            args=[
                member,
                message_id,
                int(at.timestamp() * 1000),
                config.quiet_ms,
                config.max_wait_ms,
                config.max_burst,
                "1" if force else "0",
                arrival_ms,
            ],
        )
        return int(added)

    async def recover(
        self,
        older_than_s: float = 0.0,
        config: DebounceConfig | None = None,
        *,
        tenant_id: str | None = None,
    ) -> int:
        """Re-buffer 'buffered' rows that Redis lost (all tenants or one); returns how many."""
        config = config or DebounceConfig()
        added = 0
        async with self._pool.acquire() as conn:
            if tenant_id is None:
                tenants = [r["id"] for r in await conn.fetch("SELECT id FROM clients")]
            else:
                tenants = [tenant_id]
            for tenant in tenants:
                rows = await conn.fetch(
                    "SELECT id, conversation_id, created_at,"
                    " coalesce(provider_sent_at, created_at) AS at FROM chat_messages"
                    " WHERE client_id = $1 AND status = 'buffered' AND direction = 'in'"
                    " AND created_at < now() - make_interval(secs => $2) ORDER BY id",
                    tenant,
                    older_than_s,
                )
                for row in rows:
                    arrival = int(row["created_at"].timestamp() * 1000)
                    if await self._buffer(
                        str(tenant),
                        str(row["conversation_id"]),
                        row["id"],
                        row["at"],
                        config,
                        False,
                        max(arrival, 1),
                    ) or await self._repair(f"{tenant}:{row['conversation_id']}"):
                        added += 1
        if added:
            log.warning("debounce_recovered", messages=added)
        return added

    async def _repair(self, member: str) -> bool:
        """Point `due` or `claimed` at a buffer or snapshot that neither points at any more.

        Redis can lose some keys and keep others (keys evicted under memory pressure, or
        deleted by hand mid-burst): a buffer whose `due` entry is gone is never claimed, a
        snapshot whose claim entry is gone is never re-claimed, and `add` refuses to buffer
        their messages again. Only called for rows older than any lease, so nothing live
        owns them: the buffer becomes due now, the snapshot gets an expired lease (re-claimed
        with the same messages, so the same burst id). True when something was repaired.
        """
        if await self._redis.zscore(self._due, member) is not None:
            return False
        if await self._redis.zscore(self._claimed, member) is not None:
            return False
        if await self._redis.exists(f"{self._prefix}f:{member}"):
            await self._redis.zadd(self._claimed, {member: 0})
        elif await self._redis.exists(f"{self._prefix}b:{member}"):
            await self._redis.zadd(self._due, {member: 0})
        else:
            return False
        log.warning("debounce_orphan_repaired", member=member)
        return True

    async def run(self, stop: asyncio.Event, on_flush: Callable[[Burst], Awaitable[None]]) -> None:
        """Poll for due bursts and flush them until `stop` is set."""
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        next_recover = loop.time()
        failures = 0
        try:
            while not stop.is_set():
                if loop.time() >= next_recover:
                    next_recover = loop.time() + self._recover_every
                    await self._recover_quietly()
                await self._slots.acquire()  # bounds the batches in flight
                try:
                    claims, wait_ms = await self._claim()
                except Exception as exc:
                    # Redis is down or unreachable: ask again with a capped back-off (one
                    # line per outage, not one per poll); the slot is released below
                    failures += 1
                    if failures == 1:
                        log.warning("debounce_claim_failed", error=repr(exc))
                    claims, wait_ms = (
                        [],
                        min(CLAIM_RETRY_MS * 2 ** (failures - 1), CLAIM_RETRY_MAX_MS),
                    )
                else:
                    if failures:
                        log.warning("debounce_claim_recovered", failures=failures)
                    failures = 0
                if claims:
                    task = asyncio.create_task(self._flush_batch(claims, on_flush))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    if len(claims) >= self._batch:
                        continue
                else:
                    self._slots.release()
                # sleep until the next deadline, but batch claims: at least a quarter poll
                delay = (
                    wait_ms / 1000
                    if failures
                    else self._poll
                    if wait_ms < 0
                    else max(min(wait_ms / 1000, self._poll), self._poll / 4)
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()

    async def _recover_quietly(self) -> None:
        try:
            await self.recover(self._recover_age)
        except Exception as exc:
            log.warning("debounce_recover_failed", error=repr(exc))

    async def _claim(self) -> tuple[list[Claim], float]:
        """Claim due conversations; returns the claims and ms until the next deadline (-1)."""
        raw = await self._claim_script(
            keys=[self._due, self._claimed, self._tokens],
            args=[self._prefix, self._lease_ms, self._batch, uuid.uuid4().hex],
        )
        now, nxt, items = int(raw[0]), float(_text(raw[1])), raw[2]
        claims = []
        for member, token, fields in items:
            flat = [_text(f) for f in fields]
            messages = sorted(
                (int(flat[i + 1]), int(flat[i]))
                for i in range(0, len(flat), 2)
                if flat[i] != FORCE_FIELD
            )
            claims.append(Claim(_text(member), _text(token), messages))
        return claims, (nxt - now if nxt >= 0 else -1.0)

    async def _flush_batch(
        self, claims: list[Claim], on_flush: Callable[[Burst], Awaitable[None]]
    ) -> None:
        try:
            await self._flush_claims(claims, on_flush)
        except Exception as exc:
            log.error("debounce_flush_failed", error=repr(exc), claims=len(claims))
            with contextlib.suppress(Exception):
                await self._settle(claims, str(self._retry_ms))
        finally:
            self._slots.release()

    async def _flush_claims(
        self, claims: list[Claim], on_flush: Callable[[Burst], Awaitable[None]]
    ) -> None:
        pending = await self._still_buffered(claims)
        bursts = {}
        for claim in claims:
            kept = [(at, mid) for at, mid in claim.messages if mid in pending]
            if kept:
                ids = [mid for _, mid in kept]
                bursts[claim.member] = Burst(
                    claim.tenant_id,
                    claim.conversation_id,
                    burst_id_for(claim.tenant_id, claim.conversation_id, ids),
                    ids,
                    datetime.fromtimestamp(kept[0][0] / 1000, UTC),
                )
        outcomes = await asyncio.gather(
            *(on_flush(b) for b in bursts.values()), return_exceptions=True
        )
        failed = set()
        for member, out in zip(bursts, outcomes, strict=True):
            if isinstance(out, BaseException):
                failed.add(member)
                log.warning(
                    "burst_flush_retry",
                    conversation_id=bursts[member].conversation_id,
                    burst_id=bursts[member].burst_id,
                    error=repr(out),
                )
        flushed = [b for m, b in bursts.items() if m not in failed]
        await self._marks.write(flushed)
        for b in flushed:
            log.info(
                "burst_flushed",
                tenant_id=b.tenant_id,
                conversation_id=b.conversation_id,
                burst_id=b.burst_id,
                messages=len(b.message_ids),
            )
        await self._settle([c for c in claims if c.member not in failed], "done")
        await self._settle([c for c in claims if c.member in failed], str(self._retry_ms))

    async def _still_buffered(self, claims: list[Claim]) -> set[int]:
        by_tenant: dict[str, list[int]] = defaultdict(list)
        owner: dict[int, str] = {}
        for claim in claims:
            for _, mid in claim.messages:
                by_tenant[claim.tenant_id].append(mid)
                owner[mid] = claim.conversation_id
        kept: set[int] = set()
        if not by_tenant:
            return kept
        async with self._pool.acquire() as conn:
            for tenant_id, ids in by_tenant.items():
                rows = await conn.fetch(
                    "SELECT id, conversation_id FROM chat_messages"
                    " WHERE client_id = $1 AND id = ANY($2::bigint[]) AND status = 'buffered'",
                    tenant_id,
                    ids,
                )
                kept.update(r["id"] for r in rows if str(r["conversation_id"]) == owner[r["id"]])
        return kept

    async def flush_now(
        self,
        tenant_id: str,
        conversation_id: str,
        message_id: int,
        at: datetime,
        on_flush: Callable[[Burst], Awaitable[None]],
    ) -> Burst:
        """Debounce off (quiet window 0): the message is its own burst, flushed without Redis.

        The row stays `buffered` until `on_flush` succeeded, so a failed publish is
        recovered like any buffered message. The 'flushed' marks of these bursts are
        written in batches (one statement for all bursts of `mark_interval_s`, and at
        stop): like a crash between the publish and the mark in `run`, a mark lost in a
        crash only makes `recover` publish the same burst id again, which consumers
        deduplicate. The row can carry its burst id from the insert already
        (`inbound.store_inbound_in_conversation`), so the reply's bookkeeping never waits
        for the mark.
        """
        burst = Burst(
            tenant_id,
            conversation_id,
            burst_id_for(tenant_id, conversation_id, [message_id]),
            [message_id],
            at,
        )
        await on_flush(burst)
        self._marks.add(burst)
        return burst

    async def flush_marks(self) -> None:
        """Mark every published debounce-off burst 'flushed' now (kept for a retry on error)."""
        await self._marks.flush()

    async def close(self) -> None:
        """Write the pending 'flushed' marks; called when the service stops."""
        await self._marks.close()

    async def _settle(self, claims: list[Claim], mode: str) -> None:
        if not claims:
            return
        args: list[str] = [self._prefix, mode]
        for claim in claims:
            args += [claim.member, claim.token]
        await self._settle_script(keys=[self._claimed, self._tokens], args=args)
