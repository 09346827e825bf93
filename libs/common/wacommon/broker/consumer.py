"""The consumer runner: manual ack after the handler's effects commit.

- `RetryableError` (and unexpected exceptions): a copy goes to the retry tier for
  its attempt (a TTL queue that dead-letters back to the work queue), then the
  original is acked; past `max_retries` the message is dead-lettered.
- `PermanentError` and undecodable bodies: rejected straight to the dead-letter queue.
- A process that dies before acking gets the message redelivered (handlers are
  idempotent); the quorum queue's delivery limit dead-letters crash loops.
- `stop()` cancels the subscription and drains in-flight messages.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from prometheus_client import Counter, Histogram

from wacommon.broker import topology
from wacommon.errors import PermanentError
from wacommon.logging import bind_message_context
from wacommon.schemas import Envelope, decode
from wacommon.settings import Settings

log = structlog.get_logger(__name__)

HANDLED = Counter("wa_messages_handled_total", "Bus messages handled", ["queue", "outcome"])
HANDLE_SECONDS = Histogram("wa_message_handle_seconds", "Handler duration", ["queue"])


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
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
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
            await self._retry_or_dead_letter(message, headers, retry_count, exc)
            return
        HANDLED.labels(self._label, "ok").inc()
        await self._settle(message.ack())

    async def _retry_or_dead_letter(
        self,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        retry_count: int,
        exc: Exception,
    ) -> None:
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
            return
        delay = delays[min(retry_count, len(delays) - 1)]
        # `wa-last-error` rides along: the copy that finally dead-letters shows why (wa-replay)
        headers.update(
            {
                "x-retry-count": retry_count + 1,
                "wa-retry-tier": str(delay),
                "wa-last-error": repr(exc)[:300],
            }
        )
        headers.pop("x-delivery-count", None)
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
        )
        try:
            assert self._channel is not None
            retry_ex = await self._channel.get_exchange(
                self._settings.q(topology.RETRY), ensure=False
            )
            confirmation = await retry_ex.publish(
                copy,
                routing_key=self._queue_name,
                mandatory=True,
                timeout=self._settings.publish_timeout_s,
            )
            if not isinstance(confirmation, Basic.Ack):
                raise RuntimeError(f"retry copy not confirmed: {confirmation!r}")
        except Exception as pub_exc:
            log.warning("retry_publish_failed", error=repr(pub_exc))
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        log.warning(
            "message_retry_scheduled",
            attempt=retry_count + 1,
            delay_ms=delay,
            error=repr(exc)[:500],
        )
        HANDLED.labels(self._label, "retry").inc()
        await self._settle(message.ack())

    async def _settle(self, action: Awaitable[None]) -> None:
        try:
            await action
        except Exception as exc:
            # the channel died under us: the broker redelivers and the handler is idempotent
            log.warning("settle_failed_will_be_redelivered", error=repr(exc))

    async def stop(self) -> None:
        """Stop taking messages and drain those in flight."""
        self._stopping = True
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
