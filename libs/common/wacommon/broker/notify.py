"""Live notifications for the console: small, fire-and-forget messages on `wa.notify`.

After a service commits something a person watching the inbox should see (a message
stored, a delivery state, a state change, a handover), it publishes one notification:
tenant, conversation, kind and the message id / status. The console holds one
exclusive queue per process bound to the exchange and fans the notifications out to the
tenant's open streams.

Notifications are signals, not records: the database stays the truth (a stream that
reconnects replays from it, see docs/console.md). So the hot path pays one unconfirmed,
transient publish per notification and never waits for the broker: a failure (broker
down, channel closed, slow socket) is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
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
    """One unconfirmed channel, transient messages, not mandatory (no console = dropped)."""

    def __init__(self, connection: AbstractRobustConnection, settings: Settings) -> None:
        self._connection = connection
        self._settings = settings
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

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
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                exchange = await self._ready()
                await exchange.publish(
                    aio_pika.Message(
                        json.dumps(body).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                    ),
                    routing_key=notify_routing_key(str(tenant_id), kind),
                    mandatory=False,
                )
        except Exception as exc:
            self._exchange = None
            NOTIFY_FAILED.labels(kind).inc()
            log.warning("notify_failed", kind=kind, error=repr(exc)[:200])

    async def close(self) -> None:
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
