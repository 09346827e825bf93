"""Consume a work queue's shard queues: own shards first, the others as standby.

Each shard queue has single-active-consumer: every replica subscribes to every shard,
the broker makes one subscriber active and keeps the rest waiting in subscription order.
Balance comes from the order of subscription (RabbitMQ 3.10 has no SAC priorities): a
replica subscribes to its own shards (`assigned_shards`) at once and to the others only
after `shard_standby_delay_s`, so with every replica up each one is active on its own
shards. When a replica dies its channels close, the broker returns the deliveries it held
to the head of their shards and activates the next waiting subscriber: a standby takes
over without any coordinator of ours.

Giving a shard back: a replica that finds itself active on a shard it does not own (it
handled a delivery there) for longer than `shard_rebalance_s` closes that subscription
after the delivery in hand is acked, and subscribes again at the end of the line. The
broker activates the next subscriber in line; after at most one such hop per standby the
owner, if it is up again, is active. If the owner is down the shard only moves between
standbys, with a pause of one hand-over.

A hand-over closes the channel rather than cancelling the consumer: with a cancel, a
delivery the broker had sent meanwhile would still be ours while the next consumer is
already active, and it could be handled after a later message of the same conversation.
Closing the channel returns it to the head of the shard first.

Outages: every shard consumer gets the runtime's dependency probe, so it pauses like any
other consumer (its one delivery held unacked, nothing dead-lettered, parked to the
shard's tail only past `outage_hold_s`). A paused consumer is not handed over: the
next one in line would meet the same outage, and the hop would cost the held delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from wacommon.broker.consumer import PAUSED, Consumer, Handler
from wacommon.broker.shards import assigned_shards, shard_queue
from wacommon.infra.dependencies import DependencyProbe
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)


class ShardConsumer(Consumer):
    """One shard queue, prefetch 1; a hand-over leaves any new delivery to the channel close."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        settings: Settings,
        queue: str,
        handler: Handler,
        *,
        owned: bool,
        probe: DependencyProbe | None = None,
    ) -> None:
        super().__init__(connection, settings, queue, handler, prefetch=1, probe=probe)
        self.owned = owned
        self.active_since: float | None = None
        self._yielding = False

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._yielding:
            # left unacked: closing the channel returns it to the head of the shard
            return
        if self.active_since is None:
            self.active_since = time.monotonic()
        await super()._on_message(message)

    @property
    def paused(self) -> bool:
        """True while waiting out a dependency outage."""
        return not self._running.is_set()

    async def hand_over(self) -> None:
        """Close this subscription after the delivery in hand, returning anything newer."""
        self._yielding = True
        if self._recovery is not None:
            self._recovery.cancel()
        if self.paused:
            # a delivery held through an outage goes back to the head of the shard with the
            # channel (parking it would send it behind the conversation's later messages)
            await self._close_channel()
            PAUSED.labels(self._label).set(0)
            self._running.set()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self._drain_timeout)
        await self._close_channel()
        log.info("shard_handed_over", queue=self._queue_name)

    async def _close_channel(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()


class ShardedConsumers:
    """Every shard queue of one work queue, with the replica's own shards first."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        settings: Settings,
        queue: str,
        handler: Handler,
        *,
        probe: DependencyProbe | None = None,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._queue = queue
        self._handler = handler
        self._probe = probe
        self._own = set(
            assigned_shards(settings.replica_index, settings.replica_count, settings.broker_shards)
        )
        self._consumers: dict[int, ShardConsumer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def _subscribe(self, shard: int) -> None:
        consumer = ShardConsumer(
            self._connection,
            self._settings,
            shard_queue(self._queue, shard),
            self._handler,
            owned=shard in self._own,
            probe=self._probe,
        )
        await consumer.start()
        self._consumers[shard] = consumer

    async def start(self) -> None:
        for shard in sorted(self._own):
            await self._subscribe(shard)
        log.info("shards_owned", queue=self._queue, shards=sorted(self._own))
        self._tasks.append(asyncio.create_task(self._standby_then_rebalance()))

    async def _standby_then_rebalance(self) -> None:
        await asyncio.sleep(self._settings.shard_standby_delay_s)
        for shard in range(self._settings.broker_shards):
            if shard not in self._consumers and not self._stopping:
                await self._subscribe(shard)
        period = self._settings.shard_rebalance_s
        while not self._stopping:
            await asyncio.sleep(min(period / 4, 5.0))
            now = time.monotonic()
            for shard, consumer in list(self._consumers.items()):
                since = consumer.active_since
                if consumer.owned or since is None or now - since < period or self._stopping:
                    continue
                if consumer.paused:
                    continue
                await consumer.hand_over()
                if not self._stopping:
                    await self._subscribe(shard)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.hand_over() for c in self._consumers.values()))
        log.info("shards_stopped", queue=self._queue)


class WorkConsumers:
    """A service's consumers of one work queue: its shards, and the unsharded queue.

    The unsharded queue keeps being consumed so messages published by an older release
    (or re-run by `wa-replay`, or redriven from a DLQ) are not stranded; it carries no
    order guarantee.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        settings: Settings,
        queue: str,
        handler: Handler,
        *,
        prefetch: int | None = None,
        probe: DependencyProbe | None = None,
    ) -> None:
        self.legacy = Consumer(connection, settings, queue, handler, prefetch=prefetch, probe=probe)
        self.shards = (
            ShardedConsumers(connection, settings, queue, handler, probe=probe)
            if settings.broker_shards > 0
            else None
        )

    async def start(self) -> None:
        await self.legacy.start()
        if self.shards is not None:
            await self.shards.start()

    async def stop(self) -> None:
        if self.shards is not None:
            await self.shards.stop()
        await self.legacy.stop()
