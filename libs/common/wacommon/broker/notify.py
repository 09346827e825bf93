"""Live notifications for the console: small, fire-and-forget messages on `wa.notify`.

After a service commits something a person watching the inbox should see (a message
stored, a delivery state, a state change, a handover), it publishes one notification:
tenant, conversation, kind and the message id / status. The console holds one
exclusive queue per process bound to the exchange and fans the notifications out to the
tenant's open streams.

Notifications are signals, not records: the database stays the truth (a stream that
reconnects replays from it, see docs/console-inbox.md). So the hot path never waits for the
broker: `notify` only queues the body; each tenant's notifications of a 50 ms window leave
as one unconfirmed, transient message whose body is a JSON list (routing key
`<tenant_id>.batch`), which a person watching the inbox cannot tell from one message each
but which costs the process and the broker one publish per window instead of one per
message. A failure (broker down, channel closed, slow socket) is logged and counted, never
raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal, Protocol

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from prometheus_client import Counter

from wacommon.broker.topology import NOTIFY, notify_routing_key
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)

Kind = Literal["message.created", "message.status", "conversation.updated", "handover.requested"]
KINDS: tuple[str, ...] = (
    "message.created",
    "message.status",
    "conversation.updated",
    "handover.requested",
)

NOTIFY_FAILED = Counter(
    "wa_notify_failed_total", "Console notifications that could not be published", ["kind"]
)
# a publish on an unconfirmed channel is a socket write; anything slower is a sick broker
PUBLISH_TIMEOUT_S = 0.5
# how long a notification waits for others of its tenant to leave with it
BATCH_WINDOW_S = 0.05
# a window's bodies per tenant kept at most (a sick broker must not grow the process)
MAX_PENDING = 5000


def notification(
    tenant_id: str,
    conversation_id: str,
    kind: Kind,
    *,
    message_id: int | None = None,
    status: str | None = None,
    state: str | None = None,
    cause: str | None = None,
) -> dict[str, Any]:
    """The body of a notification (only what is set)."""
    body: dict[str, Any] = {
        "tenant_id": str(tenant_id),
        "conversation_id": str(conversation_id),
        "kind": kind,
    }
    for key, value in (
        ("message_id", message_id),
        ("status", status),
        ("state", state),
        ("cause", cause),
    ):
        if value is not None:
            body[key] = value
    return body


class Notifier(Protocol):
    """Publishes console notifications; never raises."""

    async def notify(
        self,
        tenant_id: str,
        conversation_id: str,
        kind: Kind,
        *,
        message_id: int | None = None,
        status: str | None = None,
        state: str | None = None,
        cause: str | None = None,
    ) -> None: ...


class BrokerNotifier:
    """One unconfirmed channel, transient messages, not mandatory (no console = dropped);
    a tenant's notifications of one window leave together, in the order they were made."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        settings: Settings,
        *,
        window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._window_s = window_s
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._flush: asyncio.Task[None] | None = None

    async def _ready(self) -> AbstractExchange:
        if self._exchange is not None and self._channel is not None and not self._channel.is_closed:
            return self._exchange
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                self._channel = await self._connection.channel(publisher_confirms=False)
                self._exchange = None
            if self._exchange is None:
                self._exchange = await self._channel.get_exchange(
                    self._settings.q(NOTIFY), ensure=False
                )
            return self._exchange

    async def notify(
        self,
        tenant_id: str,
        conversation_id: str,
        kind: Kind,
        *,
        message_id: int | None = None,
        status: str | None = None,
        state: str | None = None,
        cause: str | None = None,
    ) -> None:
        body = notification(
            tenant_id,
            conversation_id,
            kind,
            message_id=message_id,
            status=status,
            state=state,
            cause=cause,
        )
        queued = self._pending.setdefault(body["tenant_id"], [])
        if len(queued) >= MAX_PENDING:
            NOTIFY_FAILED.labels(kind).inc()
            return
        queued.append(body)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._flush_after_window())

    async def _flush_after_window(self) -> None:
        await asyncio.sleep(self._window_s)
        # a notification made while this window's publish runs opens the next window
        self._flush = None
        await self.flush()

    async def flush(self) -> None:
        """Publish what is queued now: one message per tenant."""
        pending, self._pending = self._pending, {}
        for tenant_id, bodies in pending.items():
            await self._publish(tenant_id, bodies)

    async def _publish(self, tenant_id: str, bodies: list[dict[str, Any]]) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                exchange = await self._ready()
                await exchange.publish(
                    aio_pika.Message(
                        json.dumps(bodies).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                    ),
                    routing_key=notify_routing_key(tenant_id, "batch"),
                    mandatory=False,
                )
        except Exception as exc:
            self._exchange = None
            for body in bodies:
                NOTIFY_FAILED.labels(body["kind"]).inc()
            log.warning("notify_failed", notifications=len(bodies), error=repr(exc)[:200])

    async def close(self) -> None:
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
        await self.flush()
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()


class NullNotifier:
    """Publishes nothing (tests of one service, tools)."""

    async def notify(
        self,
        tenant_id: str,
        conversation_id: str,
        kind: Kind,
        *,
        message_id: int | None = None,
        status: str | None = None,
        state: str | None = None,
        cause: str | None = None,
    ) -> None:
        return None


class FakeNotifier:
    """Records notifications, for unit tests."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def notify(
        self,
        tenant_id: str,
        conversation_id: str,
        kind: Kind,
        *,
        message_id: int | None = None,
        status: str | None = None,
        state: str | None = None,
        cause: str | None = None,
    ) -> None:
        self.sent.append(
            notification(
                tenant_id,
                conversation_id,
                kind,
                message_id=message_id,
                status=status,
                state=state,
                cause=cause,
            )
        )
