"""The console hub reads a publisher's window of notifications (a list) and a single one."""

from __future__ import annotations

import json
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage

from console.stream.hub import StreamHub
from wacommon.infra.settings import Settings


class _Message:
    def __init__(self, body: Any) -> None:
        self.body = json.dumps(body).encode()


def _note(tenant: str, message_id: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "conversation_id": "c1",
        "kind": "message.created",
        "message_id": message_id,
    }


async def test_a_batch_fans_out_in_order_and_a_single_body_still_reads() -> None:
    hub = StreamHub(None, Settings(_env_file=None))  # type: ignore[call-arg]
    mine, other = hub.subscribe("t1"), hub.subscribe("t2")

    batch = [_note("t1", 1), _note("t2", 2), _note("t1", 3)]
    await hub._on_message(cast(AbstractIncomingMessage, _Message(batch)))
    await hub._on_message(cast(AbstractIncomingMessage, _Message(_note("t1", 4))))
    await hub._on_message(cast(AbstractIncomingMessage, _Message([1, "x"])))

    got = [mine.queue.get_nowait() for _ in range(mine.queue.qsize())]
    assert [e.data["message_id"] for e in got] == [1, 3, 4]
    assert [e.id for e in got] == sorted({e.id for e in got})
    assert [e.data["message_id"] for e in [other.queue.get_nowait()]] == [2]
    assert other.queue.empty()
