"""Console notifications leave in batches: one broker message per tenant and window, in order."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from wacommon.broker.notify import BrokerNotifier
from wacommon.broker.topology import NOTIFY
from wacommon.infra.settings import Settings


async def _listen(amqp: AbstractRobustConnection, settings: Settings) -> aio_pika.abc.AbstractQueue:
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        settings.q(NOTIFY), aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(
        settings.q(f"test.notify.{uuid.uuid4().hex[:8]}"), exclusive=True, auto_delete=True
    )
    await queue.bind(exchange, routing_key="#")
    return queue


async def _drain(queue: aio_pika.abc.AbstractQueue) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        got.append((message.routing_key or "", json.loads(message.body)))
    return got


async def test_a_windows_notifications_leave_as_one_message_per_tenant_in_order(
    amqp: AbstractRobustConnection, settings: Settings
) -> None:
    queue = await _listen(amqp, settings)
    notifier = BrokerNotifier(amqp, settings, window_s=0.2)
    for n in range(5):
        await notifier.notify("tenant-a", "conv-a", "message.created", message_id=n)
    await notifier.notify("tenant-b", "conv-b", "message.status", message_id=9, status="sent")
    await notifier.notify("tenant-a", "conv-a", "conversation.updated", state="human")
    # nothing leaves before the window closes: notify never waits for the broker
    assert await _drain(queue) == []

    await asyncio.sleep(0.6)
    got = await _drain(queue)

    assert [key for key, _ in got] == ["tenant-a.batch", "tenant-b.batch"]
    a_bodies, b_bodies = got[0][1], got[1][1]
    assert [b.get("message_id") for b in a_bodies] == [0, 1, 2, 3, 4, None]
    assert a_bodies[-1] == {
        "tenant_id": "tenant-a",
        "conversation_id": "conv-a",
        "kind": "conversation.updated",
        "state": "human",
    }
    assert b_bodies == [
        {
            "tenant_id": "tenant-b",
            "conversation_id": "conv-b",
            "kind": "message.status",
            "message_id": 9,
            "status": "sent",
        }
    ]
    await notifier.close()


async def test_a_notification_made_during_a_publish_opens_the_next_window(
    amqp: AbstractRobustConnection, settings: Settings
) -> None:
    queue = await _listen(amqp, settings)
    notifier = BrokerNotifier(amqp, settings, window_s=0.05)
    await notifier.notify("tenant-a", "conv-a", "message.created", message_id=1)
    await asyncio.sleep(0.3)
    await notifier.notify("tenant-a", "conv-a", "message.created", message_id=2)
    await asyncio.sleep(0.3)

    got = await _drain(queue)

    assert [[b["message_id"] for b in bodies] for _, bodies in got] == [[1], [2]]
    await notifier.close()


async def test_closing_publishes_what_is_still_queued(
    amqp: AbstractRobustConnection, settings: Settings
) -> None:
    queue = await _listen(amqp, settings)
    notifier = BrokerNotifier(amqp, settings, window_s=30)
    await notifier.notify("tenant-a", "conv-a", "handover.requested", state="human")

    await notifier.close()
    await asyncio.sleep(0.2)

    got = await _drain(queue)
    assert [[b["kind"] for b in bodies] for _, bodies in got] == [["handover.requested"]]
