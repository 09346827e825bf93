"""One scan: end timed handovers, send due follow-ups and reminders.

A send whose publish was lost after its commit stays `pending` in the outbox; the
sender's relay (`sender.relay`) publishes it again, for every origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from followup import handlers, reminders, store
from followup.deps import FollowupDeps
from followup.settings import FollowupSettings
from wacommon.conversation.bot_gate import expire_handovers
from wacommon.infra.dbtypes import Conn
from wacommon.infra.infra_errors import is_infrastructure

log = structlog.get_logger(__name__)
T = TypeVar("T")
OUTCOMES = {"send": "sent", "skip": "skipped", "wait": "waiting", "stop": "stopped"}


@dataclass
class ScanResult:
    """What one scan did, by outcome."""

    resumed: int = 0
    followups: Counter[str] = field(default_factory=Counter)
    reminders: Counter[str] = field(default_factory=Counter)


@dataclass
class FollowupScanner:
    """The service's work, with its ports; `run_once` is what tests and the loop call."""

    settings: FollowupSettings
    deps: FollowupDeps

    async def run_once(self, now: datetime | None = None) -> ScanResult:
        """One full scan at `now` (injected by tests; the clock otherwise)."""
        at = now or datetime.now(UTC)
        result = ScanResult()
        resumed: list[tuple[str, str]] = []
        result.resumed = await expire_handovers(self.deps.pool, now=at, resumed=resumed)
        for tenant_id, conversation_id in resumed:
            await self.deps.notifier.notify(
                tenant_id, conversation_id, "conversation.updated", state="bot", cause="timeout"
            )
        result.followups = await self._drain(self._followups, at)
        result.reminders = await self._drain(self._reminders, at)
        return result

    async def _drain(
        self, batch: Callable[[datetime], Awaitable[Counter[str]]], now: datetime
    ) -> Counter[str]:
        total: Counter[str] = Counter()
        while True:
            done = await batch(now)
            total.update(done)
            if done.total() < self.settings.followup_batch:
                return total

    async def _followups(self, now: datetime) -> Counter[str]:
        """Lock a batch, write what needs no LLM in that transaction; the writer's under a lease."""
        lease = now + timedelta(seconds=self.settings.followup_lease_s)
        outcomes: Counter[str] = Counter()
        sent: list[tuple[store.FollowupClaim, int]] = []
        deferred: list[store.FollowupClaim] = []
        async with self.deps.pool.acquire() as conn, conn.transaction():
            claims = await store.lock_due_followups(conn, now, self.settings.followup_batch)
            by_id = await store.tenants(conn, {c.tenant_id for c in claims}) if claims else {}
            for claim in claims:
                try:
                    # a savepoint per claim: one tenant's bad config or row is its own problem,
                    # never a rollback of every other tenant's follow-ups in the batch
                    async with conn.transaction():
                        decision = handlers.decide(claim, by_id.get(claim.tenant_id), now)
                        if decision.what == "write":
                            await store.set_followup(conn, claim, stage=claim.stage, due=lease)
                            deferred.append(replace(claim, lease=lease))
                            continue
                        outbound_id = await handlers.apply_locked(conn, claim, decision, now)
                except Exception as exc:
                    if is_infrastructure(exc):
                        raise
                    await self._set_aside(conn, claim, exc)
                    outcomes["error"] += 1
                    continue
                outcomes[OUTCOMES[decision.what]] += 1
                if outbound_id is not None:
                    sent.append((claim, outbound_id))
        for claim, outbound_id in sent:
            await handlers.publish_send(
                self.deps.publisher, claim.tenant_id, claim.conversation_id, outbound_id, "followup"
            )
        outcomes.update(
            await self._each(
                deferred,
                lambda c: handlers.handle_written(
                    c,
                    by_id[c.tenant_id],
                    deps=self.deps,
                    now=now,
                ),
            )
        )
        return outcomes

    async def _set_aside(self, conn: Conn, claim: store.FollowupClaim, exc: Exception) -> None:
        """Stop this conversation's follow-ups (logged once) rather than fail it at every scan."""
        log.error(
            "followup_set_aside",
            tenant_id=claim.tenant_id,
            conversation_id=claim.conversation_id,
            stage=claim.stage,
            error=repr(exc)[:300],
        )
        await store.set_followup(conn, claim, stage=claim.stage, due=None)

    async def _reminders(self, now: datetime) -> Counter[str]:
        lease = timedelta(seconds=self.settings.followup_lease_s)
        claims = await store.claim_reminders(
            self.deps.pool, now, self.settings.followup_batch, lease
        )
        by_id = await store.tenants(self.deps.pool, {c.tenant_id for c in claims}) if claims else {}
        return await self._each(
            claims,
            lambda c: reminders.handle_reminder(
                c,
                by_id.get(c.tenant_id),
                deps=self.deps,
                now=now,
                retry=timedelta(seconds=self.settings.reminder_retry_s),
                max_delay=timedelta(seconds=self.settings.reminder_max_delay_s),
            ),
        )

    async def _each(self, items: Sequence[T], work: Callable[[T], Awaitable[str]]) -> Counter[str]:
        """Run `work` on every claimed item, a few at a time; one failure does not stop the rest."""
        gate = asyncio.Semaphore(self.settings.followup_concurrency)
        outcomes: Counter[str] = Counter()

        async def one(item: T) -> None:
            async with gate:
                try:
                    outcomes[await work(item)] += 1
                except Exception as exc:
                    # the lease runs out and the next scan retries it
                    log.exception("scheduled_item_failed", error=repr(exc))
                    outcomes["error"] += 1

        await asyncio.gather(*(one(i) for i in items))
        return outcomes

    async def loop(self, stop: asyncio.Event) -> None:
        """Scan every `followup_interval_s` until `stop` is set."""
        while not stop.is_set():
            try:
                result = await self.run_once()
                log.info(
                    "scan_done",
                    resumed=result.resumed,
                    followups=dict(result.followups),
                    reminders=dict(result.reminders),
                )
            except Exception as exc:
                log.exception("scan_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.followup_interval_s)
