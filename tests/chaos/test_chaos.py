"""The reliability recipes as one run: storms and faults, then every customer answered once.

Customers write through Meta, Uazapi and LancePilot at once; a third of the webhooks are
delivered twice and the order is shuffled. Meanwhile each worker kind is killed with SIGKILL
(and restarted, as Kubernetes would), the test's Redis keys are deleted mid-burst, the
services' database link is cut briefly (a restart) and the test's own RabbitMQ node is
restarted; a second wave then meets a long database outage (longer than the retry ladder).
After recovery: every customer answered exactly once, no dead letters, and the event log
holds one `msg_received` per stored inbound message and one `msg_sent` per sent reply.

Sizes come from the environment: the CI default is CHAOS_CUSTOMERS=90, CHAOS_OUTAGE_S=15
(a few minutes); the long run is `CHAOS_CUSTOMERS=2000 CHAOS_OUTAGE_S=600 make chaos`.
CHAOS_KILL_SENDER=0 spares the sender (see KILL_SENDER).
Nothing shared is stopped or flushed: the broker is a node of the test's own, PostgreSQL and
Redis are cut through proxies, and only this run's Redis prefix is deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import RUN_ID
from tests.e2e.chaos import (
    OwnBroker,
    broker_node,
    dead_letter_counts,
    proxy_to,
    via,
)
from tests.e2e.stack import Service, Stack, meta_text, signed
from tests.e2e.test_uazapi_lancepilot_e2e import lancepilot_incoming, uazapi_text
from tests.fakes.lancepilot import LancePilotFakeState
from tests.fakes.lancepilot import create_app as lancepilot_app
from tests.fakes.server import ServerThread
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from wacommon.broker.connection import connect
from wacommon.infra.settings import Settings
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.chaos,
    pytest.mark.timeout(int(900 + 3 * float(os.environ.get("CHAOS_OUTAGE_S", "15")))),
]
__all__ = ["broker_node"]  # the module fixture this suite uses

CUSTOMERS = int(os.environ.get("CHAOS_CUSTOMERS", "90"))
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "15"))
SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE, DISPLAY, TOKEN = "666000666000666", "5541966660000", "EAAtokenC0000000000000000006"
OWNER, UAZ_TOKEN = "5511966660000", "uaz-chaos-token-0001"
LP_TOKEN, LP_WORKSPACE, LP_NUMBER = "lp-chaos-token-0001", "88", "5511955550000"
DEBOUNCE = {"debounce": {"quiet_seconds": 1, "max_wait_seconds": 4}}
# Killing the sender mid-send leaves rows `sending`: the relay's sweeper re-drives them after
# SEND_RECONCILE_S (resent for Meta, marked `unknown` for Uazapi/LancePilot, which have no
# delivery callback, so they go to a person instead of risking a second send).
KILL_SENDER = os.environ.get("CHAOS_KILL_SENDER", "1") == "1"
WORKERS = ("lancepilot-ingest", "rag-worker", *(("sender",) if KILL_SENDER else ()))
SERVICES = ("meta-gateway", "lancepilot-ingest", "lancepilot-ingest", "rag-worker", "sender")


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    uaz: UazapiFakeState
    lp: LancePilotFakeState
    gateway: httpx.AsyncClient
    pool: asyncpg.Pool
    redis: aioredis.Redis
    settings: Settings
    broker: OwnBroker
    db: TcpProxy
    tenants: list[str]
    uaz_secret: str
    lp_secret: str

    def live(self, name: str) -> list[Service]:
        return [
            s
            for s in self.stack.services.values()
            if s.name == name and s.process is not None and s.process.poll() is None
        ]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphState, str, UazapiFakeState, str, LancePilotFakeState, str]]:
    graph = GraphState(tokens={PHONE: TOKEN})
    uaz = UazapiFakeState({UAZ_TOKEN}, owner=OWNER)
    lp = LancePilotFakeState({LP_TOKEN}, workspaces={LP_WORKSPACE})
    servers = [ServerThread(app).start() for app in (make_graph_app(graph), uazapi_app(uaz))]
    servers.append(ServerThread(lancepilot_app(lp)).start())
    yield graph, servers[0].url, uaz, servers[1].url, lp, servers[2].url
    for server in servers:
        server.stop()


def _secret(webhook_url: str | None) -> str:
    assert webhook_url
    return webhook_url.rstrip("/").rsplit("/", 1)[-1]


async def _tenant(http: httpx.AsyncClient, name: str, providers: list[dict[str, Any]]) -> tuple:
    resp = await http.post(
        "/admin/clients", headers=AUTH, json={"name": name, "tools_config": DEBOUNCE}
    )
    assert resp.status_code == 201, resp.text
    tenant = resp.json()["id"]
    secrets = []
    for provider in providers:
        resp = await http.post(f"/admin/clients/{tenant}/providers", headers=AUTH, json=provider)
        assert resp.status_code == 201, resp.text
        secrets.append(resp.json().get("webhook_url"))
    return tenant, secrets


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[GraphState, str, UazapiFakeState, str, LancePilotFakeState, str],
    test_env: dict[str, str],
    settings: Settings,
    pool: asyncpg.Pool,
    broker_node: OwnBroker,
) -> AsyncIterator[Env]:
    graph, graph_url, uaz, uaz_url, lp, lp_url = fakes
    own = settings.model_copy(update={"amqp_url": broker_node.url, "redis_prefix": f"t{RUN_ID}x:"})
    db = await proxy_to(settings.database_url, 5432)
    stack = Stack(
        {
            **test_env,
            "AMQP_URL": broker_node.url,
            "REDIS_PREFIX": own.redis_prefix,
            "DATABASE_URL": via(settings.database_url, db.port),
            "META_GRAPH_URL": graph_url,
        }
    )
    services = [stack.add(n) for n in SERVICES]
    redis = aioredis.from_url(settings.redis_url)
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=15) as http:
            meta_tenant, _ = await _tenant(
                http,
                "Loja Caos Meta",
                [
                    {
                        "provider_type": "meta",
                        "is_default": True,
                        "config": {
                            "phone_id": PHONE,
                            "display_phone_number": DISPLAY,
                            "access_token": TOKEN,
                            "waba_id": "waba-chaos",
                        },
                    }
                ],
            )
            other_tenant, (uaz_hook, lp_hook) = await _tenant(
                http,
                "Loja Caos Uazapi",
                [
                    {
                        "provider_type": "uazapi",
                        "is_default": True,
                        "instance_name": "Celular",
                        "config": {
                            "url": uaz_url,
                            "token": UAZ_TOKEN,
                            "pacing": {"min_delay_ms": 0, "max_extra_delay_ms": 0},
                        },
                    },
                    {
                        "provider_type": "lancepilot",
                        "instance_name": "CRM",
                        "config": {
                            "token": LP_TOKEN,
                            "workspace_id": LP_WORKSPACE,
                            "number": LP_NUMBER,
                            "url": lp_url + "/api/v3",
                        },
                    },
                ],
            )
            yield Env(
                stack,
                graph,
                uaz,
                lp,
                http,
                pool,
                redis,
                own,
                broker_node,
                db,
                [meta_tenant, other_tenant],
                _secret(uaz_hook),
                _secret(lp_hook),
            )
    finally:
        stack.stop_all()
        keys = [k async for k in redis.scan_iter(match=f"{own.redis_prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await db.stop()


@dataclass
class Customer:
    provider: str
    to: str
    body: dict[str, Any]
    codes: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return 200 in self.codes


def customers(n: int, wave: str) -> list[Customer]:
    out = []
    for i in range(n):
        to = f"55{random.randint(11, 99)}9{uuid.uuid4().int % 10**8:08d}"
        text = f"Oi ({wave} {i}), vocês abrem amanhã?"
        kind = ("meta", "uazapi", "lancepilot")[i % 3]
        if kind == "meta":
            body = meta_text(PHONE, DISPLAY, to, text)
        elif kind == "uazapi":
            body = uazapi_text(to, text, token=UAZ_TOKEN)
            body["owner"] = OWNER
        else:
            body = lancepilot_incoming(to, text)
            body["data"]["attributes"]["to"] = LP_NUMBER
        out.append(Customer(kind, to, body))
    return out


async def deliver(env: Env, c: Customer) -> int:
    """One delivery attempt, as the provider makes it (any non-2xx is retried later)."""
    raw = json.dumps(c.body).encode()
    try:
        if c.provider == "meta":
            raw, headers = signed(c.body, SECRET)
            return (
                await env.gateway.post("/meta/webhook", content=raw, headers=headers)
            ).status_code
        ingests = env.live("lancepilot-ingest")
        if not ingests:
            return 0
        secret = env.uaz_secret if c.provider == "uazapi" else env.lp_secret
        url = f"{random.choice(ingests).url}/{c.provider}/webhook/{secret}"
        async with httpx.AsyncClient(timeout=15) as client:
            resp = await client.post(url, content=raw, headers={"content-type": "application/json"})
        return resp.status_code
    except httpx.HTTPError:
        return 0


async def storm(env: Env, people: list[Customer], spread_s: float, deadline: float) -> None:
    """Every webhook once, a third of them twice, shuffled; then redelivered until accepted."""
    sends = people + random.sample(people, len(people) // 3)
    random.shuffle(sends)
    gap = spread_s / max(len(sends), 1)

    async def one(c: Customer) -> None:
        c.codes.append(await deliver(env, c))

    tasks = []
    for c in sends:
        tasks.append(asyncio.create_task(one(c)))
        await asyncio.sleep(gap)
    await asyncio.gather(*tasks)
    while time.monotonic() < deadline:
        pending = [c for c in people if not c.accepted]
        if not pending:
            return
        await asyncio.gather(*(one(c) for c in pending))
        await asyncio.sleep(1.0)


@dataclass
class Supervisor:
    """Restarts any service process that exits, as Kubernetes would."""

    stack: Stack
    restarts: list[str] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)

    async def run(self) -> None:
        while True:
            for svc in list(self.stack.services.values()):
                proc = svc.process
                if proc is None or proc.poll() is None or proc.pid in self.handled:
                    continue
                self.handled.add(proc.pid)
                self.restarts.append(f"{svc.name} exited {proc.returncode}")
                fresh = self.stack.add(svc.name)
                try:
                    await self.stack.start(fresh)
                except RuntimeError as exc:
                    # it died while starting: the next pass sees it exited and replaces it
                    self.restarts.append(f"{svc.name} failed to start: {exc}")
            await asyncio.sleep(0.3)


async def flush_redis(env: Env) -> int:
    """Delete this run's Redis keys (never FLUSHALL: the server is shared)."""
    keys = [k async for k in env.redis.scan_iter(match=f"{env.settings.redis_prefix}*")]
    if keys:
        await env.redis.delete(*keys)
    return len(keys)


async def faults(env: Env, notes: list[str]) -> None:
    """Kill -9 each worker kind, delete Redis keys, cut the database, restart the broker."""
    await asyncio.sleep(2.0)
    for name in WORKERS:
        victim = env.live(name)[0]
        assert victim.process is not None
        victim.kill()
        notes.append(f"kill -9 {name}")
        await asyncio.sleep(1.0)
    notes.append(f"redis: deleted {await flush_redis(env)} keys")
    await asyncio.sleep(1.0)
    await env.db.cut()
    await asyncio.sleep(2.0)
    await env.db.restore()
    notes.append("database restarted (link cut 2 s)")
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await env.broker.restart_app(down_seconds=3.0)
    notes.append(f"broker restarted in {time.monotonic() - started:.1f}s")


def replies(env: Env) -> dict[str, int]:
    counts: dict[str, int] = {}

    def add(to: str | None) -> None:
        if to:
            counts[to] = counts.get(to, 0) + 1

    for sent in env.graph.sent_messages():
        add((sent.json or {}).get("to"))
    for sent in env.uaz.sent("/send/"):
        add((sent.body or {}).get("number"))
    for sent in env.lp.sent("/api/v3/workspaces/"):
        # message sends only (the free-window check before a send is no reply)
        number, _, action = sent.path.partition("/contacts/number/")[2].partition("/")
        if action.startswith(("messages", "template")):
            add(number)
    return counts


async def until_answered(env: Env, wanted: set[str], quiet_s: float = 150) -> None:
    """Until all are answered, or no new reply for `quiet_s` (longer than the debounce
    recovery of rows whose Redis state was deleted: every 30 s, rows older than 90 s)."""
    last, progress_at = -1, time.monotonic()
    while time.monotonic() - progress_at < quiet_s:
        got = len(wanted & set(replies(env)))
        if got == len(wanted):
            return
        if got != last:
            last, progress_at = got, time.monotonic()
        await asyncio.sleep(1.0)


@dataclass
class Outcome:
    people: list[Customer]
    replies: dict[str, int]
    dead: dict[str, int]
    received: tuple[int, int]
    sent: tuple[int, int]
    notes: list[str]
    # customers whose reply a killed sender left with an unknown outcome (shown to a person)
    unknown: set[str]
    # (rows left `unknown`, msg_send_unknown events)
    unknown_rows: tuple[int, int] = (0, 0)


@pytest.fixture(scope="module")
async def outcome(env: Env) -> Outcome:
    first = customers(CUSTOMERS, "w1")
    second = customers(max(CUSTOMERS // 3, 3), "w2")
    notes: list[str] = []
    sup = Supervisor(env.stack)
    for svc in env.stack.services.values():
        assert svc.process is not None
    watcher = asyncio.create_task(sup.run())
    try:
        deadline = time.monotonic() + 120 + OUTAGE_S
        chaos = asyncio.create_task(faults(env, notes))
        await storm(env, first, spread_s=10.0, deadline=deadline)
        await chaos
        # the long outage: a second wave meets a database that stays down past the ladder
        wave = asyncio.create_task(storm(env, second, spread_s=5.0, deadline=deadline))
        await asyncio.sleep(1.0)
        await env.db.cut()
        await asyncio.sleep(OUTAGE_S)
        await env.db.restore()
        notes.append(f"database outage {OUTAGE_S:.0f}s")
        await wave
        people = first + second
        await until_answered(env, {c.to for c in people})
        await asyncio.sleep(5.0)  # a doubled reply has time to show up
    finally:
        watcher.cancel()
    print(f"\nchaos: {notes}; restarts: {sup.restarts}")
    amqp = await connect(env.settings)
    try:
        dead = await dead_letter_counts(amqp, env.settings)
    finally:
        await amqp.close()
    counts = await env.pool.fetchrow(
        """SELECT
             (SELECT count(*) FROM chat_messages WHERE client_id = ANY($1::uuid[])
                AND direction = 'in') AS inbound,
             (SELECT count(*) FROM conversation_events WHERE client_id = ANY($1::uuid[])
                AND event_type = 'msg_received') AS received,
             (SELECT count(*) FROM chat_messages WHERE client_id = ANY($1::uuid[])
                AND direction = 'out' AND status IN ('sent', 'delivered', 'read')) AS outbound,
             (SELECT count(*) FROM conversation_events WHERE client_id = ANY($1::uuid[])
                AND event_type = 'msg_sent') AS sent,
             (SELECT count(*) FROM chat_messages WHERE client_id = ANY($1::uuid[])
                AND direction = 'out' AND status = 'unknown') AS unknown_rows,
             (SELECT count(*) FROM conversation_events WHERE client_id = ANY($1::uuid[])
                AND event_type = 'msg_send_unknown') AS unknown_events""",
        env.tenants,
    )
    result = Outcome(
        people,
        replies(env),
        dead,
        (counts["inbound"], counts["received"]),
        (counts["outbound"], counts["sent"]),
        notes,
        await unknown_outcomes(env),
        (counts["unknown_rows"], counts["unknown_events"]),
    )
    unanswered = sum(1 for c in people if c.to not in result.replies)
    print(f"customers {len(people)}; unanswered {unanswered}; dead letters {dead}")
    await explain(env, people, result.replies)
    return result


async def unknown_outcomes(env: Env) -> set[str]:
    """Phones whose reply row is `unknown`: the sender died between claim and settle."""
    rows = await env.pool.fetch(
        "SELECT DISTINCT a.contact_phone, a.contact_key FROM chat_messages m"
        " JOIN active_conversations a ON a.id = m.conversation_id"
        " WHERE m.client_id = ANY($1::uuid[]) AND m.direction = 'out' AND m.status = 'unknown'",
        env.tenants,
    )
    return {str(r["contact_phone"] or r["contact_key"]) for r in rows}


async def explain(env: Env, people: list[Customer], counts: dict[str, int]) -> None:
    """What the database holds for every customer not answered exactly once (for the log)."""
    for c in people:
        if counts.get(c.to, 0) == 1:
            continue
        rows = await env.pool.fetch(
            "SELECT m.id, m.direction, m.status, m.attempts, m.idempotency_key,"
            " m.created_at, m.sent_at, m.updated_at, m.error_detail"
            " FROM chat_messages m JOIN active_conversations a ON a.id = m.conversation_id"
            " WHERE m.client_id = ANY($1::uuid[]) AND (a.contact_phone = $2"
            " OR a.contact_key LIKE '%' || $2 || '%') ORDER BY m.id",
            env.tenants,
            c.to,
        )
        print(f"{c.provider} {c.to} replies={counts.get(c.to, 0)} codes={c.codes}")
        for r in rows:
            print("   ", dict(r))


async def test_every_webhook_is_accepted_eventually(outcome: Outcome) -> None:
    assert [c.to for c in outcome.people if not c.accepted] == []


async def test_every_customer_is_answered_exactly_once(outcome: Outcome) -> None:
    wanted = {c.to for c in outcome.people}
    got = {c.to: outcome.replies.get(c.to, 0) for c in outcome.people}
    # an `unknown` send may or may not have reached the customer: never twice, and a person sees it
    held = {to for to in wanted if any(to in u for u in outcome.unknown)}
    assert {to: n for to, n in got.items() if to not in held} == dict.fromkeys(wanted - held, 1)
    assert all(got[to] <= 1 for to in held), {to: got[to] for to in held}
    print(f"unknown outcomes (shown to a person): {sorted(held)}")
    assert set(outcome.replies) <= wanted, "a reply went to someone who never wrote"


async def test_nothing_is_dead_lettered_by_infrastructure(outcome: Outcome) -> None:
    assert outcome.dead == dict.fromkeys(outcome.dead, 0)


async def test_the_event_log_is_complete(outcome: Outcome) -> None:
    inbound, received = outcome.received
    outbound, sent = outcome.sent
    assert inbound == len(outcome.people) and received == inbound
    # a reply a killed sender left `unknown` is not recorded as sent (its event is
    # msg_send_unknown, and a person sees it): every other customer has a sent reply
    assert outbound >= len(outcome.people) - len(outcome.unknown) and sent == outbound
    unknown_rows, unknown_events = outcome.unknown_rows
    assert unknown_events >= unknown_rows
