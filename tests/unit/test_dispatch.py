"""A consumer's callback hands each message to the handler of its type, with the deps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wacommon.broker.consumer import Delivery
from wacommon.broker.dispatch import MessageHandler, dispatcher
from wacommon.broker.schemas import BurstReady, Envelope, SendReply, utcnow
from wacommon.infra.errors import PermanentError

DELIVERY = Delivery(redelivered=False, delivery_count=1, retry_count=0)


@dataclass
class Seen:
    """The fake dependency container: what each handler was given."""

    calls: list[tuple[str, str]] = field(default_factory=list)


async def handle_burst_ready(msg: Envelope, delivery: Delivery, *, deps: Seen) -> None:
    deps.calls.append(("burst", msg.message_id))


async def handle_send_reply(msg: Envelope, delivery: Delivery, *, deps: Seen) -> None:
    deps.calls.append(("send", msg.message_id))


HANDLERS: dict[type[Envelope], MessageHandler[Seen]] = {
    BurstReady: handle_burst_ready,
    SendReply: handle_send_reply,
}


def burst() -> BurstReady:
    return BurstReady(
        tenant_id="t1",
        conversation_id="c1",
        burst_id="b1",
        message_ids=[1, 2],
        first_message_at=utcnow(),
    )


async def test_each_message_goes_to_the_handler_of_its_type() -> None:
    seen = Seen()
    handle = dispatcher(HANDLERS, seen)
    one, two = burst(), SendReply(tenant_id="t1", conversation_id="c1", outbound_id=7)
    await handle(two, DELIVERY)
    await handle(one, DELIVERY)
    assert seen.calls == [("send", two.message_id), ("burst", one.message_id)]


async def test_a_type_without_a_handler_is_refused_for_good() -> None:
    seen = Seen()
    handle = dispatcher({BurstReady: handle_burst_ready}, seen)
    with pytest.raises(PermanentError, match=r"unexpected message reply\.send"):
        await handle(SendReply(tenant_id="t1", conversation_id="c1", outbound_id=7), DELIVERY)
    assert seen.calls == []
