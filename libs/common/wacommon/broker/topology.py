"""The broker topology, declared idempotently at start-up by every service.

wa.ingest   (topic)   webhook.<provider>.v1       -> ingest.webhooks (+ stream ingest.log)
wa.pipeline (topic)   conversation.burst_ready.v1 -> rag.bursts
                      reply.send.v1               -> sender.replies
wa.retry    (headers) wa-retry-tier=<ms>           -> wa.retry.<ms> (TTL) --DLX--> wa.requeue
wa.requeue  (direct)  <queue name>                -> that work queue (retries come back here)
wa.dlx      (direct)  <queue name>                -> <queue>.dlq
wa.notify   (topic)   <tenant_id>.<kind>          -> one exclusive auto-delete queue per
                                                     console process (see wacommon.notify)
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from wacommon.settings import Settings

INGEST = "wa.ingest"
PIPELINE = "wa.pipeline"
RETRY = "wa.retry"
REQUEUE = "wa.requeue"
DLX = "wa.dlx"
NOTIFY = "wa.notify"

INGEST_QUEUE = "ingest.webhooks"
BURST_QUEUE = "rag.bursts"
SEND_QUEUE = "sender.replies"
INGEST_STREAM = "ingest.log"


@dataclass(frozen=True)
class WorkQueue:
    name: str
    exchange: str
    binding: str


WORK_QUEUES: tuple[WorkQueue, ...] = (
    WorkQueue(INGEST_QUEUE, INGEST, "webhook.#"),
    WorkQueue(BURST_QUEUE, PIPELINE, "conversation.burst_ready.#"),
    WorkQueue(SEND_QUEUE, PIPELINE, "reply.send.#"),
)


def notify_routing_key(tenant_id: str, kind: str) -> str:
    """`<tenant_id>.<kind>` (kind: message.created, ...): a consumer can bind one tenant."""
    return f"{tenant_id}.{kind}"


def dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queue_name(settings: Settings, delay_ms: int) -> str:
    return settings.q(f"{RETRY}.{delay_ms}")


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
    exchanges: dict[str, AbstractExchange] = {INGEST: ingest, PIPELINE: pipeline}

    queues: dict[str, AbstractQueue] = {}
    for wq in WORK_QUEUES:
        name = q(wq.name)
        dead = await channel.declare_queue(
            dlq_name(name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": settings.delivery_limit,
                "x-dead-letter-exchange": q(DLX),
                "x-dead-letter-routing-key": name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        await queue.bind(exchanges[wq.exchange], routing_key=wq.binding)
        await queue.bind(requeue, routing_key=name)
        queues[wq.name] = queue

    stream = await channel.declare_queue(
        q(INGEST_STREAM),
        durable=True,
        arguments={
            "x-queue-type": "stream",
            "x-max-age": "7D",
            "x-stream-max-segment-size-bytes": 8_000_000,
        },
    )
    await stream.bind(ingest, routing_key="webhook.#")
    queues[INGEST_STREAM] = stream

    for delay in settings.retry_delays_ms:
        tier = await channel.declare_queue(
            retry_queue_name(settings, delay),
            durable=True,
            arguments={"x-message-ttl": delay, "x-dead-letter-exchange": q(REQUEUE)},
        )
        await tier.bind(retry, arguments={"x-match": "all", "wa-retry-tier": str(delay)})
    return queues


async def delete_topology(channel: AbstractChannel, settings: Settings) -> None:
    """Remove every queue and exchange of this prefix (tests clean up with it)."""
    q = settings.q
    names = [q(wq.name) for wq in WORK_QUEUES]
    names += [dlq_name(n) for n in list(names)]
    names += [q(INGEST_STREAM)] + [retry_queue_name(settings, d) for d in settings.retry_delays_ms]
    for name in names:
        await channel.queue_delete(name)
    for ex in (INGEST, PIPELINE, RETRY, REQUEUE, DLX, NOTIFY):
        await channel.exchange_delete(q(ex))
