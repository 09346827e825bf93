"""Publishers: confirmed, persistent, mandatory. Nothing is reported published unless confirmed."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from pamqp.commands import Basic

from wacommon.broker import shards, topology
from wacommon.broker.envelope import encode
from wacommon.broker.schemas import Envelope
from wacommon.infra.errors import BROKER, DependencyUnavailable
from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)


class PublishFailed(DependencyUnavailable):
    """The broker did not confirm the message (nack, unroutable, timeout or no connection)."""

    dependency = BROKER


class Publisher(Protocol):
    """Publishes bus messages; returns only after the broker confirmed them."""

    async def publish(
        self,
        message: Envelope,
        *,
        exchange: str,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None: ...


def build_message(message: Envelope, headers: dict[str, Any] | None = None) -> aio_pika.Message:
    """The AMQP message for an envelope: persistent, ids and type in the properties."""
    all_headers: dict[str, Any] = {
        "tenant_id": message.tenant_id or "",
        "schema_version": message.schema_version,
    }
    if headers:
        all_headers.update(headers)
    return aio_pika.Message(
        body=encode(message),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.occurred_at,
        headers=all_headers,
    )


class AioPikaPublisher:
    """Publishes on one confirm channel; concurrent publishes share it."""

    def __init__(self, connection: AbstractRobustConnection, settings: Settings) -> None:
        self._connection = connection
        self._settings = settings
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()

    async def _exchange(self, name: str) -> AbstractExchange:
        full = self._settings.q(name)
        if self._channel is None or self._channel.is_closed:
            async with self._lock:
                if self._channel is None or self._channel.is_closed:
                    self._channel = await self._connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
                    self._exchanges = {}
        ex = self._exchanges.get(full)
        if ex is None:
            assert self._channel is not None
            ex = await self._channel.get_exchange(full, ensure=False)
            self._exchanges[full] = ex
        return ex

    async def publish(
        self,
        message: Envelope,
        *,
        exchange: str,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        await self.publish_raw(
            build_message(message, headers),
            exchange=exchange,
            routing_key=routing_key or topology.routing_key(message),
            shard_key=shards.envelope_key(message),
        )

    async def publish_raw(
        self,
        amqp_message: aio_pika.Message,
        *,
        exchange: str,
        routing_key: str,
        shard_key: str | None = None,
    ) -> None:
        """Publish a prepared AMQP message (retries and replay keep the original properties).

        A message for a sharded work queue goes to its conversation's shard instead (the
        conversation read from the body unless `shard_key` names it).
        """
        sharded = shards.route(
            self._settings, exchange, routing_key, amqp_message.body, key=shard_key
        )
        if sharded is not None:
            exchange, routing_key = sharded
        try:
            ex = self._exchanges.get(self._settings.q(exchange))
            if ex is None or self._channel is None or self._channel.is_closed:
                ex = await asyncio.wait_for(
                    self._exchange(exchange), self._settings.publish_timeout_s
                )
            confirmation = await ex.publish(
                amqp_message,
                routing_key=routing_key,
                mandatory=True,
                timeout=self._settings.publish_timeout_s,
            )
        except PublishFailed:
            raise
        except Exception as exc:
            # timeouts, nacks (DeliveryError), returns, closed channels: never report success
            self._exchanges = {}
            raise PublishFailed(
                f"publish to {exchange}/{routing_key} not confirmed: {exc!r}"
            ) from exc
        if not isinstance(confirmation, Basic.Ack):
            # a returned (unroutable) message or no confirm at all
            raise PublishFailed(f"publish to {exchange}/{routing_key} not acked: {confirmation!r}")

    async def ping(self) -> None:
        """A confirmed round trip through the broker; raises PublishFailed if it does not answer.

        The probe message goes to the requeue exchange with a routing key nothing is bound
        to, not mandatory: the broker confirms and drops it, no queue ever sees it.
        """
        probe = aio_pika.Message(b"", delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
        try:
            ex = await asyncio.wait_for(
                self._exchange(topology.REQUEUE), self._settings.publish_timeout_s
            )
            confirmation = await ex.publish(
                probe,
                routing_key=topology.PING_ROUTING_KEY,
                mandatory=False,
                timeout=self._settings.publish_timeout_s,
            )
        except Exception as exc:
            self._exchanges = {}
            raise PublishFailed(f"broker ping not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, Basic.Ack):
            raise PublishFailed(f"broker ping not acked: {confirmation!r}")

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()


class FakePublisher:
    """Records published messages, for unit tests."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, Envelope]] = []
        self.fail_with: Exception | None = None

    async def publish(
        self,
        message: Envelope,
        *,
        exchange: str,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append((exchange, routing_key or topology.routing_key(message), message))

    def of_type(self, cls: type[Envelope]) -> list[Envelope]:
        return [m for _, _, m in self.published if isinstance(m, cls)]


__all__ = [
    "AioPikaPublisher",
    "FakePublisher",
    "PublishFailed",
    "Publisher",
    "build_message",
    "topology",
]
