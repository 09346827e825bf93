"""Restarts of workers, broker and database under duplicated, reordered and malformed webhooks.

PRODUCT.md promise: no inbound message lost, no reply sent twice (reliability.md T1, T2, T3, T6).
The broker restarted is a RabbitMQ node of this test's own (`chaos.broker_node`), and the
database "restart" is a cut of the proxy the services reach it through: the shared servers
keep running for everyone else.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import PG_BASE, RUN_ID
from tests.e2e.chaos import (
    OwnBroker,
    broker_node,
    proxy_to,
    terminate_db_backends,
    via,
)
from tests.e2e.stack import (
    SHORT_SEND_WINDOW,
    Service,
    Stack,
    eventually,
    meta_status,
    meta_text,
    post_meta_statuses,
    signed,
)
from tests.fakes.server import ServerThread
from tests.fakes.tcp_proxy import TcpProxy
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
# numbers of its own: test_media_pipeline registers 444000444000444 in the same test database
PHONE, DISPLAY, TOKEN = "445000445000445", "5541944450000", "EAAtokenR0000000000000000004"
CUSTOMERS = 60
POST_SPREAD_S = 8.0
SERVICES = ("meta-gateway", "lancepilot-ingest", "lancepilot-ingest", "rag-worker", "sender")


@dataclass
class Supervisor:
    """Restarts any service process that exits, as systemd `Restart=always` would."""

    stack: Stack
    restarts: list[str] = field(default_factory=list)
    expected_dead: set[int] = field(default_factory=set)

    def live(self, name: str) -> list[Service]:
        return [
            s
            for s in self.stack.services.values()
            if s.name == name and s.process is not None and s.process.poll() is None
        ]

    async def replace(self, svc: Service) -> Service:
        fresh = self.stack.add(svc.name)
        await self.stack.start(fresh)
        return fresh

    async def run(self) -> None:
        while True:
            for svc in list(self.stack.services.values()):
                proc = svc.process
                if proc is None or proc.poll() is None or proc.pid in self.expected_dead:
                    continue
                self.expected_dead.add(proc.pid)
                self.restarts.append(f"{svc.name} (pid {proc.pid}) exited {proc.returncode}")
                await self.replace(svc)
            await asyncio.sleep(0.3)


__all__ = ["broker_node"]  # the module fixture this test uses

DB_CUT_S = 3.0


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    tenant: str
    broker: OwnBroker
    db: TcpProxy


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    yield state, server.url
    server.stop()


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    broker_node: OwnBroker,
) -> AsyncIterator[Env]:
    state, url = graph
    db = await proxy_to(test_env["DATABASE_URL"], 5432)
    stack = Stack(
        {
            **test_env,
            "AMQP_URL": broker_node.url,
            "DATABASE_URL": via(test_env["DATABASE_URL"], db.port),
            "META_GRAPH_URL": url,
            **SHORT_SEND_WINDOW,
        }
    )
    services = [stack.add(n) for n in SERVICES]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=15) as http:
            resp = await http.post(
                "/admin/clients",
                headers=AUTH,
                json={"name": "Loja R", "tools_config": {"debounce": {"quiet_seconds": 0}}},
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
                        "waba_id": "waba-restarts",
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            # Meta's status webhooks: without them a send whose answer timed out on a loaded
            # machine would be taken over and sent again (production's reconciliation)
            statuses = asyncio.create_task(post_meta_statuses(state, http, PHONE, DISPLAY, SECRET))
            try:
                yield Env(stack, state, http, pool, tenant, broker_node, db)
            finally:
                statuses.cancel()
    finally:
        stack.stop_all()
        await db.stop()


@dataclass
class Customer:
    to: str
    body: dict[str, Any]
    codes: list[int] = field(default_factory=list)

    @property
    def wamid(self) -> str:
        return str(self.body["entry"][0]["changes"][0]["value"]["messages"][0]["id"])

    @property
    def accepted(self) -> bool:
        return 200 in self.codes


async def post_raw(http: httpx.AsyncClient, body: dict[str, Any] | bytes, secret: str) -> int:
    raw, headers = signed(body, secret)
    try:
        return (await http.post("/meta/webhook", content=raw, headers=headers)).status_code
    except httpx.HTTPError:
        return 0  # a timeout or reset is a non-2xx for Meta: it retries


async def deliver_twice(http: httpx.AsyncClient, c: Customer) -> None:
    """Meta sending the same webhook twice at once."""
    c.codes += await asyncio.gather(*(post_raw(http, c.body, SECRET) for _ in range(2)))


async def noise(http: httpx.AsyncClient, i: int) -> list[int]:
    """Malformed and forged bodies and out-of-order statuses; none must cause a reply."""
    stranger = f"55419{i:08d}"
    wamid = f"wamid.unknown.{uuid.uuid4().hex}"
    return [
        await post_raw(http, b"{not json", SECRET),
        await post_raw(http, {"object": "whatsapp_business_account"}, SECRET),
        await post_raw(http, meta_text(PHONE, DISPLAY, stranger, "forjada"), "wrong-secret"),
        await post_raw(http, meta_status(PHONE, DISPLAY, wamid, "read", stranger), SECRET),
        await post_raw(http, meta_status(PHONE, DISPLAY, wamid, "delivered", stranger), SECRET),
        await post_raw(http, meta_status(PHONE, DISPLAY, wamid, "sent", stranger), SECRET),
    ]


async def storm(http: httpx.AsyncClient, customers: list[Customer]) -> list[list[int]]:
    """Each webhook twice concurrently, spread over POST_SPREAD_S, with noise in between."""
    tasks: list[asyncio.Task[Any]] = []
    noise_tasks: list[asyncio.Task[list[int]]] = []
    gap = POST_SPREAD_S / len(customers)
    for i, c in enumerate(customers):
        tasks.append(asyncio.create_task(deliver_twice(http, c)))
        if i % 10 == 0:
            noise_tasks.append(asyncio.create_task(noise(http, i)))
        await asyncio.sleep(gap)
    await asyncio.gather(*tasks)
    return list(await asyncio.gather(*noise_tasks))


async def chaos(env: Env, sup: Supervisor, notes: list[str]) -> None:
    """(1) SIGKILL an ingest replica and the rag-worker; (2) kill DB backends twice, then cut
    the services' database link for DB_CUT_S; (3) restart the test's own broker node."""
    await asyncio.sleep(1.0)
    victims = [sup.live("lancepilot-ingest")[0], *sup.live("rag-worker")]
    for svc in victims:
        assert svc.process is not None
        sup.expected_dead.add(svc.process.pid)
        svc.kill()
    await asyncio.gather(*(sup.replace(v) for v in victims))
    notes.append(f"killed -9 {[v.name for v in victims]}")
    database = f"wa_test_{RUN_ID}"
    for _ in range(2):
        await asyncio.sleep(0.7)
        killed = await terminate_db_backends(f"{PG_BASE}/postgres", database)
        notes.append(f"pg_terminate_backend x{killed}")
    await env.db.cut()
    try:
        await asyncio.sleep(DB_CUT_S)
    finally:
        await env.db.restore()
    notes.append(f"database link cut for {DB_CUT_S}s")
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    await env.broker.restart_app(down_seconds=2.0)
    notes.append(f"broker app restarted in {time.monotonic() - t0:.1f}s")


async def retry_until_accepted(http: httpx.AsyncClient, customers: list[Customer]) -> None:
    """Meta redelivers every webhook that did not get a 2xx."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        pending = [c for c in customers if not c.accepted]
        if not pending:
            return
        codes = await asyncio.gather(*(post_raw(http, c.body, SECRET) for c in pending))
        for c, code in zip(pending, codes, strict=True):
            c.codes.append(code)
        await asyncio.sleep(1.0)


async def inbound_rows(env: Env) -> list[asyncpg.Record] | None:
    """Inbound rows per wamid; None while the test pool still holds a terminated connection."""
    try:
        return await env.pool.fetch(
            "SELECT provider_message_id, count(*) AS n FROM chat_messages"
            " WHERE client_id = $1 AND direction = 'in' GROUP BY provider_message_id",
            env.tenant,
        )
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
        return None


def reply_counts(graph: GraphState) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in graph.sent_messages():
        if s.json:
            counts[s.json["to"]] = counts.get(s.json["to"], 0) + 1
    return counts


@dataclass
class Outcome:
    customers: list[Customer]
    noise_codes: list[list[int]]
    replies: dict[str, int]
    inbound: dict[str, int]


async def await_replies(graph: GraphState, wanted: set[str], timeout: float = 60) -> None:
    """Until every wanted customer has a reply, or replies stop coming for 15 s."""
    deadline = time.monotonic() + timeout
    last, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline:
        got = len(wanted & set(reply_counts(graph)))
        if got == len(wanted):
            return
        if got != last:
            last, progress_at = got, time.monotonic()
        elif time.monotonic() - progress_at > 15:
            return
        await asyncio.sleep(1.0)


@pytest.fixture(scope="module")
async def outcome(env: Env) -> Outcome:
    """The storm with worker, database and broker faults in the middle, then the end state."""
    customers = []
    for i in range(CUSTOMERS):
        to = f"55418{i:03d}{uuid.uuid4().int % 10**5:05d}"
        customers.append(Customer(to, meta_text(PHONE, DISPLAY, to, f"Oi, pedido {i}?")))
    sup = Supervisor(env.stack)
    watcher = asyncio.create_task(sup.run())
    notes: list[str] = []
    try:
        chaos_task = asyncio.create_task(chaos(env, sup, notes))
        noise_codes = await storm(env.http, customers)
        await chaos_task
        await retry_until_accepted(env.http, customers)
        await await_replies(env.graph, {c.to for c in customers})
        await asyncio.sleep(4.0)  # past SEND_RECONCILE_S: a wrongly doubled reply shows up
    finally:
        watcher.cancel()
    retried = sum(1 for c in customers if c.codes[:2] != [200, 200])
    print(f"\nchaos: {notes}; re-posted: {retried}; supervisor restarts: {sup.restarts}")
    rows = await eventually(lambda: inbound_rows(env), timeout=10, every=0.5)
    inbound = {r["provider_message_id"]: r["n"] for r in rows}
    replies = reply_counts(env.graph)
    print(f"unanswered: {sum(1 for c in customers if c.to not in replies)} of {len(customers)}")
    return Outcome(customers, noise_codes, replies, inbound)


async def test_every_webhook_is_eventually_accepted_and_noise_refused(outcome: Outcome) -> None:
    assert [c.codes for c in outcome.customers if not c.accepted] == []
    for bad_json, no_entry, forged, *_statuses in outcome.noise_codes:
        assert (bad_json, no_entry, forged) == (400, 400, 403)


async def test_no_reply_sent_twice_and_no_inbound_stored_twice(outcome: Outcome) -> None:
    ours = {c.to for c in outcome.customers}
    assert {to: n for to, n in outcome.replies.items() if n > 1} == {}
    assert set(outcome.replies) <= ours, "a reply went to someone who never wrote"
    assert {w: n for w, n in outcome.inbound.items() if n > 1} == {}


async def test_every_accepted_webhook_is_stored_once_and_answered_once(outcome: Outcome) -> None:
    missing_reply = [c.to for c in outcome.customers if outcome.replies.get(c.to, 0) != 1]
    missing_row = [c.wamid for c in outcome.customers if outcome.inbound.get(c.wamid, 0) != 1]
    assert (missing_reply, missing_row) == ([], [])
