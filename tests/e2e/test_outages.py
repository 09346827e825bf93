"""Dependency outages longer than the retry ladder: nothing dead-lettered, everyone answered once.

The services reach PostgreSQL and Redis through loopback proxies this test cuts (the shared
servers keep running for everyone else). The ladder is shortened by settings (RETRY_DELAYS_MS,
3 s in all), and each outage lasts several times that: before the fix every message consumed
during the outage went through the ladder into a dead-letter queue and its customer was never
answered (issue 16, item 4).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.conftest import RUN_ID
from tests.e2e.chaos import dead_letter_counts, proxy_to, via
from tests.e2e.stack import Stack, meta_text, signed
from tests.fakes.server import ServerThread
from tests.fakes.tcp_proxy import TcpProxy
from wacommon.broker.connection import connect
from wacommon.broker.topology import declare_topology, delete_topology
from wacommon.infra.settings import Settings
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
# numbers of its own: the console e2e registers 777000777000777 in the same test database
PHONE, DISPLAY, TOKEN = "779000779000779", "5541977790000", "EAAtokenO0000000000000000007"
CUSTOMERS = 30
OUTAGE_S = 12.0  # four times the shortened ladder (0.2 + 0.4 + 0.8 + 1.6 s)


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    http: httpx.AsyncClient
    amqp: AbstractRobustConnection
    settings: Settings
    db: TcpProxy
    redis: TcpProxy


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    yield state, server.url
    server.stop()


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str], test_env: dict[str, str], settings: Settings, database: str
) -> AsyncIterator[Env]:
    state, url = graph
    # own broker names and Redis keys: the dead-letter queues hold only this module's messages
    own = settings.model_copy(
        update={"broker_prefix": f"t{RUN_ID}o.", "redis_prefix": f"t{RUN_ID}o:"}
    )
    db = await proxy_to(settings.database_url, 5432)
    redis = await proxy_to(settings.redis_url, 6379)
    amqp = await connect(own)
    channel = await amqp.channel()
    await declare_topology(channel, own)
    await channel.close()
    stack = Stack(
        {
            **test_env,
            "BROKER_PREFIX": own.broker_prefix,
            "REDIS_PREFIX": own.redis_prefix,
            "DATABASE_URL": via(settings.database_url, db.port),
            "REDIS_URL": via(settings.redis_url, redis.port),
            "META_GRAPH_URL": url,
        }
    )
    services = [stack.add(n) for n in ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=15) as http:
            resp = await http.post(
                "/admin/clients",
                headers=AUTH,
                # a quiet window: the debounce buffer (Redis) is on every message's path
                json={"name": "Loja O", "tools_config": {"debounce": {"quiet_seconds": 1}}},
            )
            tenant = resp.json()["id"]
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "meta",
                    "is_default": True,
                    "config": {
                        "phone_id": PHONE,
                        "display_phone_number": DISPLAY,
                        "access_token": TOKEN,
                        "waba_id": "waba-outages",
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            yield Env(stack, state, http, amqp, own, db, redis)
    finally:
        stack.stop_all()
        await db.restore()
        await redis.restore()
        channel = await amqp.channel()
        await delete_topology(channel, own)
        await amqp.close()
        await db.stop()
        await redis.stop()


@dataclass
class Customer:
    to: str
    codes: list[int] = field(default_factory=list)


async def write_until_accepted(env: Env, c: Customer, deadline: float) -> None:
    """One customer's message, delivered again on a non-2xx as Meta does."""
    raw, headers = signed(meta_text(PHONE, DISPLAY, c.to, "Oi, tem horário amanhã?"), SECRET)
    while time.monotonic() < deadline:
        try:
            code = (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code
        except httpx.HTTPError:
            code = 0
        c.codes.append(code)
        if code == 200:
            return
        await asyncio.sleep(1.0)


def replies(graph: GraphState, wanted: set[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sent in graph.sent_messages():
        to = (sent.json or {}).get("to")
        if to in wanted:
            counts[to] = counts.get(to, 0) + 1
    return counts


async def until_answered(graph: GraphState, wanted: set[str], quiet_s: float = 30) -> None:
    """Until every customer has a reply, or no new reply came for `quiet_s`."""
    last, progress_at = -1, time.monotonic()
    while time.monotonic() - progress_at < quiet_s:
        got = len(replies(graph, wanted))
        if got == len(wanted):
            return
        if got != last:
            last, progress_at = got, time.monotonic()
        await asyncio.sleep(0.5)


async def outage_during_traffic(env: Env, proxy: TcpProxy) -> dict[str, int]:
    """Customers write over 6 s; the proxy is cut for OUTAGE_S starting 1 s in."""
    customers = [Customer(f"55417{uuid.uuid4().int % 10**8:08d}") for _ in range(CUSTOMERS)]
    deadline = time.monotonic() + 120

    async def traffic() -> None:
        tasks = []
        for c in customers:
            tasks.append(asyncio.create_task(write_until_accepted(env, c, deadline)))
            await asyncio.sleep(6.0 / CUSTOMERS)
        await asyncio.gather(*tasks)

    writers = asyncio.create_task(traffic())
    await asyncio.sleep(1.0)
    await proxy.cut()
    await asyncio.sleep(OUTAGE_S)
    await proxy.restore()
    await writers
    assert [c.codes for c in customers if 200 not in c.codes] == []
    wanted = {c.to for c in customers}
    await until_answered(env.graph, wanted)
    await asyncio.sleep(3.0)  # a wrongly doubled reply has time to show up
    return {to: replies(env.graph, wanted).get(to, 0) for to in wanted}


async def test_database_outage_longer_than_the_ladder_dead_letters_nothing(env: Env) -> None:
    answered = await outage_during_traffic(env, env.db)
    dead = await dead_letter_counts(env.amqp, env.settings)
    unanswered = sum(1 for n in answered.values() if n == 0)
    print(f"\ndatabase outage: dead-lettered {dead}; unanswered {unanswered} of {CUSTOMERS}")
    assert dead == dict.fromkeys(dead, 0)
    assert {to: n for to, n in answered.items() if n != 1} == {}


async def test_redis_outage_longer_than_the_ladder_dead_letters_nothing(env: Env) -> None:
    answered = await outage_during_traffic(env, env.redis)
    dead = await dead_letter_counts(env.amqp, env.settings)
    unanswered = sum(1 for n in answered.values() if n == 0)
    print(f"\nredis outage: dead-lettered {dead}; unanswered {unanswered} of {CUSTOMERS}")
    assert dead == dict.fromkeys(dead, 0)
    assert {to: n for to, n in answered.items() if n != 1} == {}
