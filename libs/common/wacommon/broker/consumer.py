"""The consumer runner: manual ack after the handler's effects commit.

- `RetryableError` (and unexpected exceptions): a copy goes to the retry tier for
  its attempt (a TTL queue that dead-letters back to the work queue), then the
  original is acked; past `max_retries` the message is dead-lettered.
- `PermanentError` and undecodable bodies: rejected straight to the dead-letter queue.
- An outage is not the message's fault: when an error is one a dependency outage
  explains (`errors.suspected_dependencies`) and the probe confirms that dependency
  does not answer, the consumer pauses. It keeps the deliveries it holds unacked and
  runs nothing: the prefetch window fills and the broker sends no more (no basic.cancel,
  whose race returns in-transit deliveries with a count). Unacked costs nothing, while a
  nack with requeue counts a delivery against the quorum queue's limit (RabbitMQ < 4.3).
  A background task asks the dependency again with a capped back-off and, when it
  answers, the held deliveries are handled again in place. A delivery held longer than
  `outage_hold_s` (below the broker's consumer_timeout) is parked: an uncounted copy goes
  to the tail of its work queue and the original is acked.
- A process that dies before acking gets the message redelivered (handlers are
  idempotent); the quorum queue's delivery limit dead-letters crash loops.
- `stop()` cancels the subscription and drains in-flight messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pamqp.commands import Basic
from prometheus_client import Counter, Gauge, Histogram

from wacommon.broker import topology
from wacommon.broker.envelope import decode
from wacommon.broker.schemas import Envelope
from wacommon.infra.dependencies import DependencyProbe
from wacommon.infra.errors import BROKER, PermanentError, suspected_dependencies
from wacommon.infra.logging import bind_message_context
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

HANDLED = Counter("wa_messages_handled_total", "Bus messages handled", ["queue", "outcome"])
HANDLE_SECONDS = Histogram("wa_message_handle_seconds", "Handler duration", ["queue"])
PAUSED = Gauge("wa_consumer_paused", "1 while a consumer waits out a dependency outage", ["queue"])
OUTAGES = Counter(
    "wa_consumer_pauses_total", "Consumer pauses for an outage", ["queue", "dependency"]
)

# the broker's count of one delivery: a parked or retried copy starts afresh
_DELIVERY_HEADERS = ("x-delivery-count",)


@dataclass(frozen=True)
class Delivery:
    """What a handler knows about the delivery besides the message itself."""

    redelivered: bool
    delivery_count: int
    retry_count: int


Handler = Callable[[Envelope, Delivery], Awaitable[None]]


class Consumer:
    """Consumes one work queue with a handler."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        settings: Settings,
        queue: str,
        handler: Handler,
        *,
        prefetch: int | None = None,
        drain_timeout: float = 30.0,
        probe: DependencyProbe | None = None,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._queue_name = settings.q(queue)
        self._label = queue
        self._handler = handler
        self._prefetch = prefetch or settings.prefetch
        self._drain_timeout = drain_timeout
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        # None: every error is the message's (no way to tell an outage)
        self._probe = probe
        self._running = asyncio.Event()  # clear while paused for an outage
        self._running.set()
        self._recovery: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # a retry copy the broker cannot route must fail its publish, never vanish (the
        # original is acked only after the copy was confirmed into its tier)
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._channel.set_qos(prefetch_count=self._prefetch)
        # declared (passively) on the robust channel, not merely looked up: that is what
        # makes connect_robust re-subscribe this consumer after a broker restart
        self._queue = await self._channel.declare_queue(self._queue_name, passive=True)
        self._tag = await self._queue.consume(self._on_message)
        log.info("consumer_started", queue=self._queue_name, prefetch=self._prefetch)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            # not ours to handle any more: back to the queue for another consumer
            await self._give_back(message, dict(message.headers or {}))
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            with HANDLE_SECONDS.labels(self._label).time():
                await self._process(message)
        finally:
            self._inflight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        retry_count = int(headers.get("x-retry-count", 0) or 0)
        delivery = Delivery(
            redelivered=bool(message.redelivered),
            delivery_count=int(headers.get("x-delivery-count", 0) or 0),
            retry_count=retry_count,
        )
        try:
            envelope = decode(message.body)
        except Exception as exc:
            log.error("message_undecodable", queue=self._queue_name, error=str(exc)[:300])
            HANDLED.labels(self._label, "poison").inc()
            await self._settle(message.reject(requeue=False))
            return
        bind_message_context(
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            tenant_id=envelope.tenant_id,
            message_type=envelope.type,
        )
        while True:
            if not self._running.is_set() and not await self._wait_out(message, headers):
                return
            try:
                await self._handler(envelope, delivery)
            except PermanentError as exc:
                log.error("message_dead_lettered", reason="permanent", error=str(exc)[:500])
                HANDLED.labels(self._label, "permanent").inc()
                await self._settle(message.reject(requeue=False))
                return
            except asyncio.CancelledError:
                # shutting down mid-handler: the broker redelivers it
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                raise
            except Exception as exc:
                down = await self._unavailable(suspected_dependencies(exc))
                if down:
                    self._pause(down, exc)
                    if self._stopping:
                        await self._give_back(message, headers)
                        return
                    continue
                if await self._retry_or_dead_letter(message, headers, retry_count, exc):
                    return
                down = await self._unavailable({BROKER})
                if down:
                    self._pause(down, exc)
                    if self._stopping:
                        await self._give_back(message, headers)
                        return
                    continue
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                return
            HANDLED.labels(self._label, "ok").inc()
            await self._settle(message.ack())
            return

    async def _unavailable(self, suspects: frozenset[str] | set[str]) -> list[str]:
        """The suspected dependencies that do not answer now (none without a probe)."""
        if self._probe is None or not suspects:
            return []
        return await self._probe.unavailable(suspects)

    async def _wait_out(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> bool:
        """Hold a delivery while paused; True to handle it again, False once it is settled."""
        deadline = time.monotonic() + self._settings.outage_hold_s
        while not self._running.is_set():
            try:
                await asyncio.wait_for(self._running.wait(), max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                if await self._park(message, headers):
                    return False
                deadline = time.monotonic() + self._settings.outage_probe_max_s
        if self._stopping:
            await self._give_back(message, headers)
            return False
        # a delivery whose channel died was taken back by the broker, which delivers it again
        return not _channel_closed(message)

    async def _give_back(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> None:
        """Return a delivery we will not handle: parked (uncounted) if the broker confirms."""
        if not await self._park(message, headers):
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

    def _pause(self, down: list[str], exc: BaseException) -> None:
        """Stop handling messages until every dependency in `down` answers again."""
        if not self._running.is_set() or self._stopping:
            return
        self._running.clear()
        PAUSED.labels(self._label).set(1)
        for name in down:
            OUTAGES.labels(self._label, name).inc()
        log.warning(
            "consumer_paused", queue=self._queue_name, dependencies=down, error=repr(exc)[:300]
        )
        # a fresh context: the recovery's log lines are not the triggering message's
        self._recovery = asyncio.create_task(self._recover(down), context=contextvars.Context())

    async def _recover(self, down: list[str]) -> None:
        """Ask the dependencies in `down` again with a capped back-off; resume when they answer."""
        since = time.monotonic()
        delay = self._settings.outage_probe_min_s
        while not self._stopping:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.outage_probe_max_s)
            try:
                if not await self._unavailable(set(down)):
                    break
            except Exception as exc:
                # a probe that cannot even run must not leave the consumer paused for good
                log.warning("outage_probe_failed", queue=self._queue_name, error=repr(exc))
        if self._stopping:
            return
        PAUSED.labels(self._label).set(0)
        log.warning(
            "consumer_resumed",
            queue=self._queue_name,
            dependencies=down,
            paused_s=round(time.monotonic() - since, 1),
        )
        self._running.set()

    def _copy(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
        clean = {k: v for k, v in headers.items() if k not in _DELIVERY_HEADERS}
        return aio_pika.Message(
            body=message.body,
            headers=clean,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
        )

    async def _publish_copy(self, copy: aio_pika.Message, exchange: str, routing_key: str) -> None:
        assert self._channel is not None
        ex = await self._channel.get_exchange(self._settings.q(exchange), ensure=False)
        # mandatory, on a channel that raises on returns: a copy the broker cannot route fails
        # here and the original stays unacked, instead of vanishing after its ack
        confirmation = await ex.publish(
            copy,
            routing_key=routing_key,
            mandatory=True,
            timeout=self._settings.publish_timeout_s,
        )
        if not isinstance(confirmation, Basic.Ack):
            raise RuntimeError(f"copy not confirmed: {confirmation!r}")

    async def _park(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> bool:
        """Put an uncounted copy back at the tail of the work queue and ack this delivery.

        False when the broker did not confirm the copy (this delivery stays unacked).
        """
        parks = int(headers.get("wa-outage-parks", 0) or 0) + 1
        copy = self._copy(message, {**headers, "wa-outage-parks": parks})
        try:
            await self._publish_copy(copy, topology.REQUEUE, self._queue_name)
        except Exception as exc:
            log.warning("park_publish_failed", error=repr(exc)[:300])
            return False
        HANDLED.labels(self._label, "parked").inc()
        log.info("message_parked_for_outage", parks=parks)
        await self._settle(message.ack())
        return True

    async def _retry_or_dead_letter(
        self,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        retry_count: int,
        exc: Exception,
    ) -> bool:
        """Schedule the next retry (or dead-letter); False if the broker refused the copy."""
        delays = self._settings.retry_delays_ms
        if retry_count >= self._settings.max_retries or not delays:
            log.error(
                "message_dead_lettered",
                reason="retries_exhausted",
                retries=retry_count,
                error=repr(exc)[:500],
            )
            HANDLED.labels(self._label, "exhausted").inc()
            await self._settle(message.reject(requeue=False))
            return True
        delay = delays[min(retry_count, len(delays) - 1)]
        # `wa-last-error` rides along: the copy that finally dead-letters shows why (wa-replay)
        copy = self._copy(
            message,
            {
                **headers,
                "x-retry-count": retry_count + 1,
                "wa-retry-tier": str(delay),
                "wa-last-error": repr(exc)[:300],
            },
        )
        try:
            await self._publish_copy(copy, topology.RETRY, self._queue_name)
        except Exception as pub_exc:
            log.warning("retry_publish_failed", error=repr(pub_exc))
            return False
        log.warning(
            "message_retry_scheduled",
            attempt=retry_count + 1,
            delay_ms=delay,
            error=repr(exc)[:500],
        )
        HANDLED.labels(self._label, "retry").inc()
        await self._settle(message.ack())
        return True

    async def _settle(self, action: Awaitable[None]) -> None:
        try:
            await action
        except Exception as exc:
            # the channel died under us: the broker redelivers and the handler is idempotent
            log.warning("settle_failed_will_be_redelivered", error=repr(exc))

    async def stop(self) -> None:
        """Stop taking messages and drain those in flight."""
        self._stopping = True
        if self._recovery is not None:
            self._recovery.cancel()
        self._running.set()  # held messages wake up, see `_stopping` and give their delivery back
        PAUSED.labels(self._label).set(0)
        channel_open = self._channel is not None and not self._channel.is_closed
        if self._queue is not None and self._tag is not None and channel_open:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
        if self._inflight:
            _done, pending = await asyncio.wait(list(self._inflight), timeout=self._drain_timeout)
            for task in pending:
                task.cancel()
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()
        log.info("consumer_stopped", queue=self._queue_name)


def _channel_closed(message: AbstractIncomingMessage) -> bool:
    channel = getattr(message, "channel", None)
    return bool(getattr(channel, "is_closed", False))
