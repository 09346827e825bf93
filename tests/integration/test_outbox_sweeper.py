"""Issue 16 item 5: the relay re-drives outbox rows nothing drives any more, under item 1's rules.

A real consumer runs the sender's handler on the shared broker (names of this test's own);
commands are lost by purging them from their queue, senders "die" by leaving rows `sending`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection

from sender.handlers import handle_send_reply
from sender.relay import relay_once
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from tests.integration.outbox_helpers import (
    HTTP_TIMEOUT_S,
    RECONCILE_S,
    CountingClient,
    Tenant,
    left_sending,
    sent_texts,
    worker,
)
from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer, Delivery
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import Envelope, SendReply
from wacommon.broker.topology import PIPELINE, SEND_QUEUE, declare_topology, delete_topology
from wacommon.infra.settings import Settings
from wacommon.providers.uazapi.outbound import UazapiClient

TOKEN = "uaz-sweeper-token"
NO_PACING = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}


class RecordingPublisher(AioPikaPublisher):
    """The real publisher, remembering which outbound rows it published a command for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbound_ids: list[int] = []

    async def publish(
        self,
        message: Envelope,
        *,
        exchange: str,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        await super().publish(message, exchange=exchange, routing_key=routing_key, headers=headers)
        if isinstance(message, SendReply):
            self.outbound_ids.append(message.outbound_id)


@pytest.fixture(scope="module")
def uaz_state() -> UazapiFakeState:
    return UazapiFakeState({TOKEN})


@pytest.fixture(scope="module")
def uaz_server(uaz_state: UazapiFakeState) -> Iterator[ServerThread]:
    with serve_in_thread(uazapi_app(uaz_state)) as server:
        yield server


@pytest.fixture()
async def bus(
    settings: Settings, run_id: str
) -> AsyncIterator[tuple[Settings, AbstractRobustConnection]]:
    # the unsharded send queue: this module tests the relay, not the shards
    ssettings = settings.model_copy(
        update={"broker_prefix": f"t{run_id}s{uuid.uuid4().hex[:4]}.", "broker_shards": 0}
    )
    conn = await connect(ssettings)
    channel = await conn.channel()
    await declare_topology(channel, ssettings)
    await channel.close()
    yield ssettings, conn
    channel = await conn.channel()
    await delete_topology(channel, ssettings)
    await conn.close()


class Sender:
    """The sender's consumer, for this test's tenants only (other tests' rows are theirs)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis_client: aioredis.Redis,
        settings: Settings,
        conn: AbstractRobustConnection,
        clients: dict[str, Any],
    ) -> None:
        self.deps = worker(pool, redis_client, settings, clients)
        self.tenants: set[str] = set()
        self.consumer = Consumer(conn, settings, SEND_QUEUE, self.handle)
        self.publisher = RecordingPublisher(conn, settings)

    async def handle(self, msg: Envelope, delivery: Delivery) -> None:
        if msg.tenant_id in self.tenants:
            await handle_send_reply(msg, delivery, deps=self.deps)

    async def relay(self) -> list[int]:
        """One pass of the sweeper; the rows it published a command for."""
        self.publisher.outbound_ids.clear()
        await relay_once(
            self.deps.pool, self.publisher, older_than_s=0, sending_after_s=RECONCILE_S
        )
        return list(self.publisher.outbound_ids)


@pytest.fixture()
async def sender(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    bus: tuple[Settings, AbstractRobustConnection],
) -> AsyncIterator[tuple[Sender, CountingClient]]:
    ssettings, conn = bus
    meta = CountingClient()
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
        s = Sender(
            pool, redis_client, ssettings, conn, {"uazapi": UazapiClient(http), "meta": meta}
        )
        yield s, meta
        await s.consumer.stop()
        await s.publisher.close()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def test_a_send_command_lost_in_flight_is_still_delivered_exactly_once(
    pool: asyncpg.Pool,
    sender: tuple[Sender, CountingClient],
    bus: tuple[Settings, AbstractRobustConnection],
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
) -> None:
    s, _ = sender
    ssettings, conn = bus
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": NO_PACING}
    )
    s.tenants.add(tenant.tenant_id)
    first, second = await tenant.reply("Oi, tudo bem?", "Posso ajudar?")
    await s.publisher.publish(tenant.command(first), exchange=PIPELINE)
    # the command is lost before any sender took it
    channel = await conn.channel()
    await (await channel.get_queue(ssettings.q(SEND_QUEUE), ensure=False)).purge()
    await channel.close()
    await s.consumer.start()

    assert {first, second} & set(await s.relay())
    await wait_until(lambda: _statuses_are(tenant, [first, second], ["sent", "sent"]))

    assert await tenant.statuses([first, second]) == ["sent", "sent"]
    assert sent_texts(uaz_state, tenant.phone) == ["Oi, tudo bem?", "Posso ajudar?"]
    # nothing left to re-drive
    assert not {first, second} & set(await s.relay())


async def test_rows_left_sending_by_a_dead_sender_are_redriven_by_provider_rules(
    pool: asyncpg.Pool,
    sender: tuple[Sender, CountingClient],
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
) -> None:
    s, meta = sender
    uaz = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": NO_PACING}
    )
    wa = await Tenant(pool, "meta").seed(
        {"phone_number_id": f"{uuid.uuid4().int % 10**15}", "access_token": "t"}
    )
    s.tenants.update({uaz.tenant_id, wa.tenant_id})
    (uaz_row,) = await uaz.reply("Já enviei?")
    (wa_row,) = await wa.reply("Oi!")
    # both senders died after their claim, their commands' retries ran out long ago
    await left_sending(pool, uaz_row, RECONCILE_S + 1)
    await left_sending(pool, wa_row, RECONCILE_S + 1)
    await s.consumer.start()

    assert {uaz_row, wa_row} <= set(await s.relay())
    await wait_until(lambda: _statuses_are(uaz, [uaz_row], ["unknown"]))
    await wait_until(lambda: _statuses_are(wa, [wa_row], ["sent"]))

    # Uazapi has no delivery callback: never resent, a person decides
    assert await uaz.statuses([uaz_row]) == ["unknown"]
    assert sent_texts(uaz_state, uaz.phone) == []
    assert [e["why"] for e in await uaz.events("msg_send_unknown")] == ["sender_died"]
    # Meta's status webhook would have reconciled it: no webhook, so it is sent again
    assert await wa.statuses([wa_row]) == ["sent"]
    assert [m.text for m in meta.sent] == ["Oi!"]
    # and neither is re-driven again
    assert not {uaz_row, wa_row} & set(await s.relay())


async def _statuses_are(tenant: Tenant, ids: list[int], expected: list[str]) -> bool:
    return await tenant.statuses(ids) == expected
