"""A conversation's replies go out in order: a later reply waits for an earlier unfinished one.

The sender reads "is an older reply of this conversation still unsettled?" in the same
statement as the send context; these tests pin what that read decides.
"""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis

from sender.deps import SenderDeps
from sender.ratelimit import RateLimiter
from tests.integration.test_sender_recheck import Outbox, RecordingClient
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import SendReply
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings


@pytest.fixture()
async def ordered(pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings) -> Outbox:
    client = RecordingClient()
    deps = SenderDeps(
        pool=pool,
        secrets=SecretBox(None),
        clients={"uazapi": client},
        limiter=RateLimiter(redis_client, settings),
        publisher=FakePublisher(),
    )
    box = Outbox(pool, deps, client)
    await box.seed()
    return box


def published(box: Outbox) -> list[int]:
    publisher = box.deps.publisher
    assert isinstance(publisher, FakePublisher)
    return [m.outbound_id for m in publisher.of_type(SendReply) if isinstance(m, SendReply)]


async def test_a_later_reply_waits_for_the_earlier_one_and_is_sent_on_after_it(
    ordered: Outbox,
) -> None:
    first = await ordered.write("primeira", "bot")
    second = await ordered.write("segunda", "bot")

    # the second reply's command arrives first: it must not overtake the first
    await ordered.send(second, "bot")
    assert await ordered.status(second) == "pending"
    assert ordered.client.sent == []

    # the first goes out, then sends the waiting one on
    await ordered.send(first, "bot")
    assert [m.text for m in ordered.client.sent] == ["primeira"]
    assert published(ordered) == [second]
    await ordered.send(second, "bot")
    assert [m.text for m in ordered.client.sent] == ["primeira", "segunda"]
    assert [await ordered.status(first), await ordered.status(second)] == ["sent", "sent"]


async def test_a_settled_earlier_reply_does_not_hold_the_next(ordered: Outbox) -> None:
    first = await ordered.write("primeira", "bot")
    await ordered.send(first, "bot")
    second = await ordered.write("segunda", "bot")

    await ordered.send(second, "bot")

    assert [m.text for m in ordered.client.sent] == ["primeira", "segunda"]


async def test_an_owner_alert_does_not_hold_the_customer_thread(ordered: Outbox) -> None:
    alert = await ordered.write("alerta", "system")
    await ordered.pool.execute(
        'UPDATE chat_messages SET payload = payload || \'{"alert_to": "5511900000000"}\'::jsonb'
        " WHERE id = $1",
        alert,
    )
    reply = await ordered.write("resposta", "bot")

    await ordered.send(reply, "bot")

    assert [m.text for m in ordered.client.sent] == ["resposta"]
    assert await ordered.status(alert) == "pending"
