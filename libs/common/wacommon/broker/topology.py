"""The broker topology, declared idempotently at start-up by every service.

wa.ingest   (topic)   webhook.<provider>.v1       -> ingest.webhooks (+ stream ingest.log)
wa.pipeline (topic)   conversation.burst_ready.v1 -> rag.bursts
                      reply.send.v1               -> sender.replies
wa.retries  (headers) wa-retry-tier=<ms>           -> wa.retries.<ms> (quorum, TTL)
                                                      --DLX at-least-once--> wa.requeue
wa.requeue  (direct)  <queue name>                -> that work queue (retries come back here)
wa.dlx      (direct)  <queue name>                -> <queue>.dlq
wa.shards   (direct)  <queue>.shard.<i>           -> that shard queue (quorum, single active
                                                     consumer); webhooks also -> ingest.log
wa.notify   (topic)   <tenant_id>.<kind>          -> one exclusive auto-delete queue per
                                                     console process (see wacommon.broker.notify)

Every hop is at-least-once. The retry tiers are quorum queues whose expired messages are
dead-lettered with `x-dead-letter-strategy=at-least-once`: a message stays in its tier until
the work queue confirmed it, where a classic queue's TTL dead-lettering drops whatever it
cannot route at that moment (a broker restart: the expired messages are dead-lettered before
the quorum work queues are back). The classic tiers of earlier releases (`wa.retry`,
`wa.retry.<ms>`) are no longer declared; a queue's type cannot change, hence the new names
(docs/architecture.md explains the upgrade of a live broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from wacommon.broker.schemas import BurstReady, Envelope, SendReply, WebhookReceived, message_type
from wacommon.broker.shards import SHARDS, shard_queue
from wacommon.infra.settings import Settings

INGEST = "wa.ingest"
PIPELINE = "wa.pipeline"
RETRY = "wa.retries"
# the classic (at-most-once) retry exchange of earlier releases and its tiers `wa.retry.<ms>`
LEGACY_RETRY = "wa.retry"
REQUEUE = "wa.requeue"
DLX = "wa.dlx"
NOTIFY = "wa.notify"

INGEST_QUEUE = "ingest.webhooks"
BURST_QUEUE = "rag.bursts"
SEND_QUEUE = "sender.replies"
INGEST_STREAM = "ingest.log"


# the one place routing keys are spelled: `<type>.v<schema_version>`, except a webhook's,
# which names its provider (`webhook.<provider>.v1`), so the stream can be read per provider
WEBHOOK_KEYS = "webhook"


def webhook_routing_key(provider: str) -> str:
    """The routing key of a provider's raw webhook on the INGEST exchange (`webhook.#`)."""
    return f"{WEBHOOK_KEYS}.{provider}.v1"


def routing_key(message: Envelope) -> str:
    """The routing key a message is published with, derived from its type."""
    if isinstance(message, WebhookReceived):
        return webhook_routing_key(message.provider.value)
    return f"{message.type}.v{message.schema_version}"


def _all_versions(cls: type[Envelope]) -> str:
    return f"{message_type(cls)}.#"


@dataclass(frozen=True)
class WorkQueue:
    name: str
    exchange: str
    binding: str


WORK_QUEUES: tuple[WorkQueue, ...] = (
    WorkQueue(INGEST_QUEUE, INGEST, f"{WEBHOOK_KEYS}.#"),
    WorkQueue(BURST_QUEUE, PIPELINE, _all_versions(BurstReady)),
    WorkQueue(SEND_QUEUE, PIPELINE, _all_versions(SendReply)),
)


def sharded_queue_for(exchange: str, routing_key: str) -> str | None:
    """The work queue a publish to `exchange`/`routing_key` is for (None: not a work queue)."""
    for wq in WORK_QUEUES:
        prefix = wq.binding.removesuffix("#")
        if exchange == wq.exchange and routing_key.startswith(prefix):
            return wq.name
    return None


def requeued_queue_for(settings: Settings, exchange: str, routing_key: str) -> str | None:
    """The work queue a publish to the requeue exchange names (wa-replay, DLQ redrive)."""
    if exchange != REQUEUE:
        return None
    for wq in WORK_QUEUES:
        if routing_key == settings.q(wq.name):
            return wq.name
    return None


def work_queue_arguments(settings: Settings, name: str) -> dict[str, Any]:
    """A work queue: quorum, delivery limit, dead-lettered at-least-once to `<name>.dlq`."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": settings.delivery_limit,
        "x-dead-letter-exchange": settings.q(DLX),
        "x-dead-letter-routing-key": name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


# bound to nothing: the publisher's ping is confirmed and dropped by the broker
PING_ROUTING_KEY = "wa.ping"


def notify_routing_key(tenant_id: str, kind: str) -> str:
    """`<tenant_id>.<kind>` (kind: message.created, ...): a consumer can bind one tenant."""
    return f"{tenant_id}.{kind}"


def dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queue_name(settings: Settings, delay_ms: int) -> str:
    return settings.q(f"{RETRY}.{delay_ms}")


def retry_tier_arguments(settings: Settings, delay_ms: int) -> dict[str, Any]:
    """A retry tier: a quorum queue whose expired messages go back at-least-once.

    At-least-once dead-lettering needs `reject-publish` overflow (with `drop-head` RabbitMQ
    falls back to at-most-once); per-queue TTL on quorum queues needs RabbitMQ 3.10 or later.
    """
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": settings.q(REQUEUE),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_topology(
    channel: AbstractChannel, settings: Settings
) -> dict[str, AbstractQueue]:
    """Declare every exchange, queue and binding; safe to run from many processes at once."""
    q = settings.q
    ingest = await channel.declare_exchange(q(INGEST), aio_pika.ExchangeType.TOPIC, durable=True)
    pipeline = await channel.declare_exchange(
        q(PIPELINE), aio_pika.ExchangeType.TOPIC, durable=True
    )
    retry = await channel.declare_exchange(q(RETRY), aio_pika.ExchangeType.HEADERS, durable=True)
    requeue = await channel.declare_exchange(q(REQUEUE), aio_pika.ExchangeType.DIRECT, durable=True)
    dlx = await channel.declare_exchange(q(DLX), aio_pika.ExchangeType.DIRECT, durable=True)
    await channel.declare_exchange(q(NOTIFY), aio_pika.ExchangeType.TOPIC, durable=True)
    shards = await channel.declare_exchange(q(SHARDS), aio_pika.ExchangeType.DIRECT, durable=True)
    exchanges: dict[str, AbstractExchange] = {INGEST: ingest, PIPELINE: pipeline}

    queues: dict[str, AbstractQueue] = {}
    for wq in WORK_QUEUES:
        name = q(wq.name)
        dead = await channel.declare_queue(
            dlq_name(name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(
            name, durable=True, arguments=work_queue_arguments(settings, name)
        )
        await queue.bind(exchanges[wq.exchange], routing_key=wq.binding)
        await queue.bind(requeue, routing_key=name)
        queues[wq.name] = queue
        for i in range(settings.broker_shards):
            # a new queue, never an argument added to an old one (that fails at declaration);
            # dead letters go to the work queue's own DLQ
            shard = await channel.declare_queue(
                shard_queue(name, i),
                durable=True,
                arguments={
                    **work_queue_arguments(settings, name),
                    "x-single-active-consumer": True,
                },
            )
            await shard.bind(shards, routing_key=shard_queue(name, i))
            await shard.bind(requeue, routing_key=shard_queue(name, i))
            queues[shard_queue(wq.name, i)] = shard

    stream = await channel.declare_queue(
        q(INGEST_STREAM),
        durable=True,
        arguments={
            "x-queue-type": "stream",
            "x-max-age": "7D",
            "x-stream-max-segment-size-bytes": 8_000_000,
        },
    )
    await stream.bind(ingest, routing_key=f"{WEBHOOK_KEYS}.#")
    for i in range(settings.broker_shards):
        # sharded webhooks are logged too (replay reads this stream)
        await stream.bind(shards, routing_key=shard_queue(q(INGEST_QUEUE), i))
    queues[INGEST_STREAM] = stream

    for delay in settings.retry_delays_ms:
        tier = await channel.declare_queue(
            retry_queue_name(settings, delay),
            durable=True,
            arguments=retry_tier_arguments(settings, delay),
        )
        await tier.bind(retry, arguments={"x-match": "all", "wa-retry-tier": str(delay)})
    return queues


async def delete_topology(channel: AbstractChannel, settings: Settings) -> None:
    """Remove every queue and exchange of this prefix (tests clean up with it)."""
    q = settings.q
    names = [q(wq.name) for wq in WORK_QUEUES]
    names += [dlq_name(n) for n in list(names)]
    names += [
        shard_queue(q(wq.name), i) for wq in WORK_QUEUES for i in range(settings.broker_shards)
    ]
    names += [q(INGEST_STREAM)] + [retry_queue_name(settings, d) for d in settings.retry_delays_ms]
    for name in names:
        await channel.queue_delete(name)
    for ex in (INGEST, PIPELINE, RETRY, REQUEUE, DLX, NOTIFY, SHARDS):
        await channel.exchange_delete(q(ex))
