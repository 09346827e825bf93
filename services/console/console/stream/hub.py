"""One broker queue per console process, fanned out in memory to each tenant's open streams.

The queue is exclusive and auto-delete (it lives and dies with this process) and bound to
every routing key of `wa.notify`. Each notification gets this process's next event id: a
microsecond timestamp, forced to grow (see `next_id`). A subscriber is a bounded
in-memory queue; one too slow to keep up is told to resync (its stream replays from the
database), so a stuck browser never holds memory or slows the others. After a broker
reconnect every subscriber is told to resync too: notifications published while the
queue was gone are replayed from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from prometheus_client import Counter, Gauge

from wacommon.broker.topology import NOTIFY
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

STREAMS = Gauge("wa_console_streams", "Open console event streams")
FANNED = Counter("wa_console_notifications_total", "Notifications received by this console")
RESYNCS = Counter("wa_console_stream_resyncs_total", "Streams told to replay", ["why"])

# what a subscriber may hold before it is told to resync instead
SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True)
class LiveEvent:
    """One notification as a stream sees it; `resync` asks the stream to replay."""

    id: int
    kind: str
    data: dict[str, Any]
    resync: bool = False


@dataclass(eq=False)
class Subscriber:
    tenant_id: str
    queue: asyncio.Queue[LiveEvent] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_BUFFER)
    )
    overflowed: bool = False

    def offer(self, event: LiveEvent) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # the stream drains what it holds, then replays from the database
            self.overflowed = True
            RESYNCS.labels("overflow").inc()


class StreamHub:
    """Started on the first stream (the process may serve no stream at all)."""

    def __init__(self, connection: AbstractRobustConnection | None, settings: Settings) -> None:
        self._connection = connection
        self._settings = settings
        self._subs: dict[str, set[Subscriber]] = {}
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._last_id = 0
        self.queue_name = settings.q(f"console.notify.{uuid.uuid4().hex[:12]}")

    def next_id(self) -> int:
        """A microsecond timestamp, strictly greater than any id handed out before."""
        self._last_id = max(self._last_id + 1, time.time_ns() // 1000)
        return self._last_id

    async def start(self) -> None:
        if self._channel is not None or self._connection is None:
            return
        async with self._lock:
            if self._channel is not None:
                return
            channel = await self._connection.channel()
            exchange = await channel.declare_exchange(
                self._settings.q(NOTIFY), aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                self.queue_name, exclusive=True, auto_delete=True, durable=False
            )
            await queue.bind(exchange, routing_key="#")
            await queue.consume(self._on_message, no_ack=True)
            self._connection.reconnect_callbacks.add(self._on_reconnect)
            self._channel = channel
            log.info("console_stream_hub_started", queue=self.queue_name)

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None

    def subscribe(self, tenant_id: str) -> Subscriber:
        sub = Subscriber(tenant_id)
        self._subs.setdefault(tenant_id, set()).add(sub)
        STREAMS.inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.tenant_id)
        if subs is not None and sub in subs:
            subs.discard(sub)
            STREAMS.dec()
            if not subs:
                del self._subs[sub.tenant_id]

    def publish_local(self, body: dict[str, Any]) -> None:
        """Fan one notification body out to the open streams of its tenant."""
        tenant = str(body.get("tenant_id") or "")
        kind = str(body.get("kind") or "")
        subs = self._subs.get(tenant)
        FANNED.inc()
        if not subs or not kind:
            return
        data = {k: v for k, v in body.items() if k not in ("tenant_id", "kind")}
        event = LiveEvent(self.next_id(), kind, data)
        for sub in list(subs):
            sub.offer(event)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            body = json.loads(message.body)
        except ValueError:
            log.warning("console_notification_undecodable")
            return
        # a list: one publisher's notifications of a window; a dict: one (older publishers)
        for one in body if isinstance(body, list) else [body]:
            if isinstance(one, dict):
                self.publish_local(one)

    def _on_reconnect(self, *_: Any) -> None:
        RESYNCS.labels("reconnect").inc()
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.offer(LiveEvent(self.next_id(), "resync", {}, resync=True))
