"""Issue 16 item 1: a slow send (pacing wait, slow provider) is never taken over and sent twice.

Two sender "workers" (two `SenderDeps` on the real database and Redis) talk to the fake
Uazapi server over loopback HTTP; the timings are shrunk so a takeover window of about a
second is crossed within the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import cast

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.requests import Request

from lancepilot_ingest.debounce import Debouncer
from lancepilot_ingest.deps import IngestDeps
from lancepilot_ingest.handlers import handle_webhook_received
from sender.relay import relay_once
from tests.e2e.chaos import proxy_to, via
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.uazapi import UazapiFakeState, echo_webhook
from tests.fakes.uazapi import create_app as uazapi_app
from tests.integration.outbox_helpers import (
    DELIVERY,
    HTTP_TIMEOUT_S,
    RECONCILE_S,
    CountingClient,
    Tenant,
    drive,
    left_sending,
    sent_texts,
    worker,
)
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import Provider, SendReply, WebhookReceived
from wacommon.infra.crypto import SecretBox
from wacommon.infra.db import create_pool
from wacommon.infra.infra_errors import DB_UNAVAILABLE
from wacommon.infra.settings import Settings
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import OutboundMessage, SendResult
from wacommon.providers.uazapi.outbound import UazapiClient
from wacommon.repositories import messages as msg_repo
from wacommon.repositories.events import PgEventLog

TOKEN = "uaz-double-send-token"
PACING_MS = 3000  # each bubble after the first waits this long for its Uazapi slot


@pytest.fixture(scope="module")
def uaz_state() -> UazapiFakeState:
    return UazapiFakeState({TOKEN})


@pytest.fixture(scope="module")
def uaz_server(uaz_state: UazapiFakeState) -> Iterator[ServerThread]:
    with serve_in_thread(uazapi_app(uaz_state)) as server:
        yield server


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        yield client


async def test_a_paced_bubble_is_not_taken_over_and_sent_twice(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": PACING_MS, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    first, second = await tenant.reply("Olá!", "Temos horário às 15h.")
    worker_a = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    worker_b = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})

    # worker A sends bubble 1, then waits PACING_MS for bubble 2's slot
    a = asyncio.create_task(drive(worker_a, tenant.command(first)))
    # past the takeover window, a relayed command for bubble 2 reaches worker B
    await asyncio.sleep(RECONCILE_S + 0.3)
    b = asyncio.create_task(drive(worker_b, tenant.command(second)))
    await asyncio.gather(a, b)
    # and once more, as a redelivery would, after everything settled
    await drive(worker_b, tenant.command(second))

    assert sent_texts(uaz_state, tenant.phone) == ["Olá!", "Temos horário às 15h."]
    assert await tenant.statuses([first, second]) == ["sent", "sent"]


async def test_a_slow_provider_call_is_not_taken_over_and_sent_twice(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    (only,) = await tenant.reply("Pode sim!")
    worker_a = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    worker_b = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    # slow but within the HTTP deadline: the send succeeds
    uaz_state.stall_next(HTTP_TIMEOUT_S * 0.8, path="/send/text")

    a = asyncio.create_task(drive(worker_a, tenant.command(only)))
    await asyncio.sleep(HTTP_TIMEOUT_S * 0.5)
    b = asyncio.create_task(drive(worker_b, tenant.command(only)))
    await asyncio.gather(a, b)
    await drive(worker_b, tenant.command(only))

    assert sent_texts(uaz_state, tenant.phone) == ["Pode sim!"]
    assert await tenant.statuses([only]) == ["sent"]


async def test_an_unknown_uazapi_outcome_is_never_resent_and_goes_to_a_person(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    first, second = await tenant.reply("Primeira.", "Segunda.")
    deps = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    # the sender that claimed bubble 1 died; nobody knows whether Uazapi got it
    await left_sending(pool, first, RECONCILE_S + 1)

    await drive(deps, tenant.command(first))
    await drive(deps, tenant.command(first))

    assert sent_texts(uaz_state, tenant.phone) == ["Segunda."]
    assert await tenant.statuses([first, second]) == ["unknown", "sent"]
    assert [e["provider"] for e in await tenant.events("msg_send_unknown")] == ["uazapi"]


async def test_a_uazapi_timeout_is_marked_unknown_and_not_resent(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    (only,) = await tenant.reply("Talvez.")
    deps = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    # the provider takes longer than our deadline: it may still send the message
    uaz_state.stall_next(HTTP_TIMEOUT_S + 0.5, path="/send/text")

    await drive(deps, tenant.command(only))
    await asyncio.sleep(RECONCILE_S)
    await drive(deps, tenant.command(only))

    assert len(sent_texts(uaz_state, tenant.phone)) <= 1
    assert [
        r.body.get("text") for r in uaz_state.requests if r.body.get("number") == tenant.phone
    ] == ["Talvez."]
    assert await tenant.statuses([only]) == ["unknown"]
    assert len(await tenant.events("msg_send_unknown")) == 1


async def test_meta_keeps_its_reconciliation_a_stale_send_is_sent_again(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    tenant = await Tenant(pool, "meta").seed(
        {"phone_number_id": f"{uuid.uuid4().int % 10**15}", "access_token": "t"}
    )
    (only,) = await tenant.reply("Oi!")
    meta = CountingClient()
    deps = worker(pool, redis_client, settings, {"meta": meta})
    # Meta echoes the row id in status webhooks: no webhook within the window means the
    # request most likely never reached Meta, so the row is sent again
    await left_sending(pool, only, RECONCILE_S + 1)

    await drive(deps, tenant.command(only))
    await drive(deps, tenant.command(only))

    assert [m.text for m in meta.sent] == ["Oi!"]
    assert await tenant.statuses([only]) == ["sent"]


async def test_a_lancepilot_send_left_sending_is_never_resent(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    tenant = await Tenant(pool, "lancepilot").seed({"token": "t", "workspace_id": "ws-1"})
    (only,) = await tenant.reply("Olá!")
    lancepilot = CountingClient()
    deps = worker(pool, redis_client, settings, {"lancepilot": lancepilot})
    await left_sending(pool, only, RECONCILE_S + 1)

    await drive(deps, tenant.command(only))
    await drive(deps, tenant.command(only))

    assert lancepilot.sent == []
    assert await tenant.statuses([only]) == ["unknown"]
    assert [e["why"] for e in await tenant.events("msg_send_unknown")] == ["sender_died"]


async def test_rows_a_live_sender_is_pacing_are_left_to_it(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": PACING_MS, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    first, second = await tenant.reply("Um.", "Dois.")
    worker_a = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    worker_b = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})

    a = asyncio.create_task(drive(worker_a, tenant.command(first)))
    for _ in range(200):  # until bubble 1 went out: worker A now waits PACING_MS for bubble 2
        if await tenant.statuses([first]) == ["sent"]:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    publisher = FakePublisher()
    await relay_once(pool, publisher, older_than_s=0)
    # another sender's command for the row ends without taking a slot or sending
    await drive(worker_b, tenant.command(second))
    await a

    assert second not in {m.outbound_id for m in publisher.of_type(SendReply)}
    assert sent_texts(uaz_state, tenant.phone) == ["Um.", "Dois."]
    assert await tenant.statuses([first, second]) == ["sent", "sent"]


async def test_the_uazapi_echo_of_a_send_of_unknown_outcome_settles_it(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    uaz_state: UazapiFakeState,
    uaz_server: ServerThread,
    http: httpx.AsyncClient,
) -> None:
    pacing = {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0}
    tenant = await Tenant(pool, "uazapi").seed(
        {"url": uaz_server.url, "token": TOKEN, "pacing": pacing}
    )
    (only,) = await tenant.reply("Chegou?")
    deps = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
    uaz_state.stall_next(HTTP_TIMEOUT_S + 0.5, path="/send/text")
    await drive(deps, tenant.command(only))
    assert await tenant.statuses([only]) == ["unknown"]

    # Uazapi did send it, and its webhook echoes our send with the row id as `track_id`
    for _ in range(100):
        answers = [r.answer for r in uaz_state.requests if r.body.get("number") == tenant.phone]
        if answers:
            break
        await asyncio.sleep(0.05)
    request = cast(
        Request, SimpleNamespace(base_url=f"{uaz_server.url}/", headers={"token": TOKEN})
    )
    echo = echo_webhook(uaz_state, request, answers[0])
    ingest = IngestDeps(
        pool,
        FakePublisher(),
        PgEventLog(pool),
        Debouncer(redis_client, settings, pool),
        SecretBox(None),
    )
    received = WebhookReceived(
        tenant_id=tenant.tenant_id,
        provider=Provider.UAZAPI,
        instance_id=tenant.instance_id,
        body=json.dumps(echo),
    )
    for _ in range(2):  # webhooks come twice
        await handle_webhook_received(received, DELIVERY, deps=ingest)

    row = await msg_repo.get_message(pool, tenant.tenant_id, only)
    assert row is not None and row["status"] == "sent"
    assert row["provider_message_id"] == answers[0]["messageid"]
    assert [e.get("reconciled") for e in await tenant.events("msg_sent")] == ["echo"]


class AcceptedThenDatabaseGone(CountingClient):
    """Meta accepts the send; then the row stays locked past the record's deadline (what a
    database outage right after the provider's answer does to the sender)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__()
        self.pool = pool
        self.holder: asyncpg.pool.PoolConnectionProxy | None = None
        self.tx: asyncpg.transaction.Transaction | None = None

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        result = await super().send(creds, message)
        if self.holder is None:
            self.holder = await self.pool.acquire()
            self.tx = self.holder.transaction()
            await self.tx.start()
            await self.holder.execute(
                "SELECT 1 FROM chat_messages WHERE status = 'sending' FOR UPDATE"
            )
        return result

    async def database_back(self) -> None:
        assert self.holder is not None and self.tx is not None
        await self.tx.rollback()
        await self.pool.release(self.holder)


async def test_a_send_accepted_but_not_recorded_is_never_sent_again(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    tenant = await Tenant(pool, "meta").seed(
        {"phone_number_id": f"{uuid.uuid4().int % 10**15}", "access_token": "t"}
    )
    (only,) = await tenant.reply("Oi!")
    meta = AcceptedThenDatabaseGone(pool)
    deps = worker(pool, redis_client, settings, {"meta": meta})

    await drive(deps, tenant.command(only))  # accepted, the record times out
    assert await tenant.statuses([only]) == ["sending"]
    await meta.database_back()
    await asyncio.sleep(RECONCILE_S + 0.5)  # past the takeover window: the sweeper's turn
    await drive(deps, tenant.command(only))
    await drive(deps, tenant.command(only))

    assert [m.text for m in meta.sent] == ["Oi!"]
    assert await tenant.statuses([only]) == ["sent"]
    assert len(await tenant.events("msg_sent")) == 1


class CuttingClient(CountingClient):
    """Meta accepts the send, then the sender's database link is cut before the record."""

    def __init__(self, proxy: TcpProxy) -> None:
        super().__init__()
        self.proxy = proxy

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        result = await super().send(creds, message)
        if len(self.sent) == 1:
            await self.proxy.cut()
        return result


async def test_a_send_accepted_while_the_database_is_away_is_recorded_not_sent_again(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    """The re-run of the command (held through the outage, or its retry) comes after the
    takeover window: the process that sent it records it instead of taking over its own
    claim and sending it again (test_restarts saw four such doubles under a database cut)."""
    proxy = await proxy_to(settings.database_url, 5432)
    via_pool = await create_pool(
        settings, dsn=via(settings.database_url, proxy.port), min_size=1, max_size=3
    )
    try:
        tenant = await Tenant(pool, "meta").seed(
            {"phone_number_id": f"{uuid.uuid4().int % 10**15}", "access_token": "t"}
        )
        (only,) = await tenant.reply("Oi!")
        meta = CuttingClient(proxy)
        deps = worker(via_pool, redis_client, settings, {"meta": meta})
        await drive(deps, tenant.command(only))
        assert await tenant.statuses([only]) == ["sending"]
        await proxy.restore()
        # the outage outlasted the takeover window
        await pool.execute(
            "UPDATE chat_messages SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
            only,
            RECONCILE_S + 1,
        )
        for _ in range(5):
            with contextlib.suppress(*DB_UNAVAILABLE):  # connections cut with the link
                await drive(deps, tenant.command(only))
                break
        assert [m.text for m in meta.sent] == ["Oi!"]
        assert await tenant.statuses([only]) == ["sent"]
    finally:
        await via_pool.close()
        await proxy.stop()


async def test_a_reply_never_goes_out_between_the_bubbles_of_an_unfinished_one(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    """A sender died after the first bubble of reply A; reply B's command comes first: B waits
    for A (taken over after the window), then A's finisher sends B on."""
    tenant = await Tenant(pool, "meta").seed(
        {"phone_number_id": f"{uuid.uuid4().int % 10**15}", "access_token": "t"}
    )
    a1, a2, a3 = await tenant.reply("A1", "A2", "A3")
    (b1,) = await tenant.reply("B1")
    meta = CountingClient()
    publisher = FakePublisher()
    deps = worker(pool, redis_client, settings, {"meta": meta})
    deps.publisher = publisher
    await pool.execute("UPDATE chat_messages SET status = 'sent' WHERE id = $1", a1)
    await left_sending(pool, a2, 0)  # its sender was killed just now

    await drive(deps, tenant.command(b1))
    assert meta.sent == [] and await tenant.statuses([b1]) == ["pending"]

    await left_sending(pool, a2, RECONCILE_S + 1)  # the takeover window has passed
    await drive(deps, tenant.command(a1))
    assert [m.text for m in meta.sent] == ["A2", "A3"]
    (next_command,) = publisher.of_type(SendReply)
    assert isinstance(next_command, SendReply) and next_command.outbound_id == b1
    await drive(deps, next_command)
    assert [m.text for m in meta.sent] == ["A2", "A3", "B1"]
    assert await tenant.statuses([a2, a3, b1]) == ["sent", "sent", "sent"]
