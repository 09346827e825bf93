"""Issue 16 item 1: a slow send (pacing wait, slow provider) is never taken over and sent twice.

Two sender "workers" (two `SenderDeps` on the real database and Redis) talk to the fake
Uazapi server over loopback HTTP; the timings are shrunk so a takeover window of about a
second is crossed within the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from sender.clients.base import OutboundMessage, SendResult
from sender.clients.uazapi import UazapiClient
from sender.deps import SenderDeps
from sender.handlers import handle_send_reply
from sender.ratelimit import RateLimiter, UazapiPacer
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from wacommon.broker.consumer import Delivery
from wacommon.credentials import ProviderCredentials
from wacommon.crypto import SecretBox
from wacommon.errors import RetryableError
from wacommon.events import PgEventLog
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo
from wacommon.schemas import Contact, SendReply, utcnow
from wacommon.settings import Settings

DELIVERY = Delivery(redelivered=False, delivery_count=1, retry_count=0)
TOKEN = "uaz-double-send-token"
# shrunk timings: HTTP deadline + record window + margin stays under the takeover window
HTTP_TIMEOUT_S = 1.5
RECORD_FOR_S = 0.2
RECONCILE_S = 2.0
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


def worker(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    clients: dict[str, Any],
) -> SenderDeps:
    """One sender process's dependencies (each worker has its own caches)."""
    return SenderDeps(
        pool=pool,
        events=PgEventLog(pool),
        secrets=SecretBox(None),
        clients=clients,
        limiter=RateLimiter(redis_client, settings),
        reconcile_s=RECONCILE_S,
        http_timeout_s=HTTP_TIMEOUT_S,
        record_for_s=RECORD_FOR_S,
        pacer=UazapiPacer(redis_client, settings),
    )


class Tenant:
    """A tenant with one provider instance and one conversation with the bot."""

    def __init__(self, pool: asyncpg.Pool, provider: str) -> None:
        self.pool = pool
        self.provider = provider
        self.client_id = ""
        self.conversation_id = ""
        self.instance_id = ""
        self.phone = f"55119{uuid.uuid4().int % 10**8:08d}"

    async def seed(self, config: dict[str, Any]) -> Tenant:
        tenant = await clients_repo.create_client(
            self.pool, {"name": "double-send", "api_url": None, "token": uuid.uuid4().hex}
        )
        self.client_id = str(tenant["id"])
        instance = await providers_repo.create_provider(
            self.pool,
            SecretBox(None),
            self.client_id,
            {"provider_type": self.provider, "config": config, "is_default": True},
        )
        self.instance_id = str(instance["id"])
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.client_id,
            Contact(key=self.phone, phone=self.phone),
            provider=self.provider,
            instance_id=self.instance_id,
            at=utcnow(),
            role="customer",
        )
        self.conversation_id = str(conv["id"])
        return self

    async def reply(self, *texts: str) -> list[int]:
        """The bubbles of one bot reply (one burst), as the rag-worker writes them."""
        burst = uuid.uuid4().hex
        ids = []
        for n, text in enumerate(texts):
            row_id = await msg_repo.insert_outbound(
                self.pool,
                self.client_id,
                self.conversation_id,
                provider=self.provider,
                instance_id=self.instance_id,
                role="bot",
                kind="text",
                content=text,
                payload={"origin": "bot"},
                idempotency_key=f"reply:{burst}:{n}",
                burst_id=burst,
            )
            assert row_id is not None
            ids.append(row_id)
        return ids

    def command(self, row_id: int) -> SendReply:
        return SendReply(
            tenant_id=self.client_id,
            conversation_id=self.conversation_id,
            outbound_id=row_id,
            origin="bot",
        )

    async def statuses(self, ids: list[int]) -> list[str]:
        rows = await msg_repo.messages_by_ids(self.pool, self.client_id, ids)
        by_id = {int(r["id"]): str(r["status"]) for r in rows}
        return [by_id[i] for i in ids]

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1 AND event_type = $2",
            self.client_id,
            event_type,
        )
        return [dict(r["data"]) for r in rows]


async def drive(deps: SenderDeps, msg: SendReply) -> None:
    """Handle one command as the consumer would (a retryable outcome is retried later)."""
    with contextlib.suppress(RetryableError):
        await handle_send_reply(msg, DELIVERY, deps=deps)


def sent_texts(state: UazapiFakeState, phone: str) -> list[str]:
    return [
        str(r.body.get("text"))
        for r in state.requests
        if r.path == "/send/text" and r.accepted and r.body.get("number") == phone
    ]


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


class CountingClient:
    """A ProviderClient standing in for Meta's: counts sends, answers a wamid."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=f"wamid.{uuid.uuid4().hex}")

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        return None


async def left_sending(pool: asyncpg.Pool, row_id: int, age_s: float) -> None:
    """What a sender killed after its claim leaves behind."""
    await pool.execute(
        "UPDATE chat_messages SET status = 'sending', attempts = attempts + 1,"
        " updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        row_id,
        age_s,
    )


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
