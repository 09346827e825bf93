"""Replay end to end: `wa-replay inbound` and `wa-replay dlq` against the services as processes.

gateway + ingest + rag-worker + sender run as processes against the fake Graph. The inbound
replay re-runs a time range of the `ingest.log` stream after a tenant was created for a
number that was unrouted; the DLQ redrive moves a reply that failed every attempt back to
the sender, where it fails again (and returns to its DLQ with its history) and then, once
the provider answers, goes out exactly once.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from lancepilot_ingest.deps import LOOKUP_TTL_S
from tests.e2e.stack import ROOT, SHORT_SEND_WINDOW, Stack, eventually, meta_text, signed
from tests.fakes.server import ServerThread
from wacommon.broker import topology
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.settings import Settings
from wacommon.ops.dead_letters import (
    DEATH_HISTORY,
    LAST_ERROR,
    REDRIVE_COUNT,
    REDRIVEN_AT,
    Filter,
    replay_dead_letters,
)
from wacommon.ops.inbound_replay import reanswer_inbound, replay_inbound
from wacommon.repositories import providers as providers_repo
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
# numbers of their own: one number, one tenant, in this module and against the other e2e ones
PHONE_A, DISPLAY_A, TOKEN_A = "337000337000337", "5531933370000", "EAAtokenR0000000000000000003"
PHONE_U, DISPLAY_U, TOKEN_U = "447000447000447", "5541944470000", "EAAtokenU0000000000000000004"
NO_DEBOUNCE = {"debounce": {"quiet_seconds": 0}}
# one retry, quickly: a reply whose provider keeps failing is dead-lettered within a second
FAST_DLQ = {"MAX_RETRIES": "1", "RETRY_DELAYS_MS": "[200]"}


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    amqp: AbstractRobustConnection
    settings: Settings
    test_env: dict[str, str]
    tenant_a: str


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE_A: TOKEN_A, PHONE_U: TOKEN_U})
    server = ServerThread(make_graph_app(state)).start()
    yield state, server.url
    server.stop()


async def add_tenant(
    http: httpx.AsyncClient, name: str, phone: str, display: str, token: str
) -> str:
    resp = await http.post(
        "/admin/clients", headers=AUTH, json={"name": name, "tools_config": NO_DEBOUNCE}
    )
    assert resp.status_code == 201, resp.text
    tid = str(resp.json()["id"])
    resp = await http.post(
        f"/admin/clients/{tid}/providers",
        headers=AUTH,
        json={
            "provider_type": "meta",
            "is_default": True,
            "config": {
                "phone_id": phone,
                "display_phone_number": display,
                "access_token": token,
                "waba_id": f"waba-{phone}",
            },
        },
    )
    assert resp.status_code == 201, resp.text
    return tid


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str],
    test_env: dict[str, str],
    settings: Settings,
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    state, url = graph
    stack = Stack({**test_env, "META_GRAPH_URL": url, **SHORT_SEND_WINDOW, **FAST_DLQ})
    services = [stack.add(n) for n in ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=10) as http:
            tenant_a = await add_tenant(http, "Replay A", PHONE_A, DISPLAY_A, TOKEN_A)
            yield Env(stack, state, http, pool, amqp, settings, test_env, tenant_a)
    finally:
        stack.stop_all()


def customer() -> str:
    return "55319" + str(uuid.uuid4().int)[:8]


async def post(env: Env, body: dict[str, Any]) -> None:
    raw, headers = signed(body, SECRET)
    resp = await env.http.post("/meta/webhook", content=raw, headers=headers)
    assert resp.status_code == 200, resp.text


async def replies_to(env: Env, to: str, n: int = 1) -> list[Any]:
    async def check() -> list[Any]:
        sent = env.graph.sent_messages(to=to)
        return sent if len(sent) >= n else []

    return await eventually(check, timeout=30)  # type: ignore[no-any-return]


async def settle() -> None:
    """Give a wrongly repeated reply time to show up before asserting there is none."""
    await asyncio.sleep(2.5)


async def stored(env: Env, wamid: str) -> int:
    return int(
        await env.pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE provider_message_id = $1", wamid
        )
    )


def tenant_lookup(env: Env) -> Any:
    box = box_from_settings(env.settings)

    async def lookup(phone_id: str | None, display: str | None) -> str | None:
        row = await providers_repo.find_meta_instance(env.pool, box, phone_id, display)
        return str(row["client_id"]) if row else None

    return lookup


async def test_inbound_replay_answers_the_unrouted_once_and_the_answered_never_again(
    env: Env,
) -> None:
    # the stream's timestamps have whole seconds: the range starts a second early
    since = datetime.now(UTC) - timedelta(seconds=1)
    answered, waiting = customer(), customer()
    answered_wamid, waiting_wamid = f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"
    await post(env, meta_text(PHONE_A, DISPLAY_A, answered, "Oi, tudo bem?", answered_wamid))
    await replies_to(env, answered)
    # a number no tenant has yet: accepted, kept in unrouted_webhooks, not answered
    await post(env, meta_text(PHONE_U, DISPLAY_U, waiting, "Vocês abrem sábado?", waiting_wamid))

    async def kept() -> int:
        return int(
            await env.pool.fetchval(
                "SELECT count(*) FROM unrouted_webhooks WHERE route_key = $1", PHONE_U
            )
        )

    await eventually(kept)
    tenant_u = await add_tenant(env.http, "Replay U", PHONE_U, DISPLAY_U, TOKEN_U)
    until = datetime.now(UTC)

    # dry run: what would run, per tenant and conversation; nothing moves
    dry = await replay_inbound(
        env.amqp, env.settings, since=since, until=until, dry_run=True, lookup=tenant_lookup(env)
    )
    assert dry.messages[(env.tenant_a, answered)] == 1
    assert dry.messages[(tenant_u, waiting)] == 1
    assert dry.per_tenant()[tenant_u] >= 1
    await settle()
    assert env.graph.sent_messages(to=waiting) == []
    assert await stored(env, waiting_wamid) == 0

    # the ingest caches routing lookups (None included) for LOOKUP_TTL_S
    await asyncio.sleep(LOOKUP_TTL_S + 0.5)
    run = await replay_inbound(env.amqp, env.settings, since=since, until=until)
    assert run.webhooks >= 2
    assert len(await replies_to(env, waiting)) == 1
    # a second replay of the same range is as harmless as the first was for `answered`
    await replay_inbound(env.amqp, env.settings, since=since, until=until)
    await settle()
    assert len(env.graph.sent_messages(to=waiting)) == 1
    assert len(env.graph.sent_messages(to=answered)) == 1
    assert await stored(env, waiting_wamid) == 1
    assert await stored(env, answered_wamid) == 1


async def test_inbound_dry_run_cli_lists_per_tenant_and_conversation(env: Env) -> None:
    someone = customer()
    await post(env, meta_text(PHONE_A, DISPLAY_A, someone, "Qual o horário?"))
    await replies_to(env, someone)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "wacommon.ops.replay", "inbound", "--since", "2m", "--dry-run"],
        env={**os.environ, **env.test_env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"tenant {env.tenant_a}:" in " ".join(lines)
    assert f"  conversation {someone}: 1" in lines
    assert "would be replayed" in lines[-1]
    await settle()
    assert len(env.graph.sent_messages(to=someone)) == 1


async def peek_dlq(env: Env, queue: str) -> dict[str, dict[str, Any]]:
    """Message id -> headers of what sits in `queue`'s DLQ (all of it goes back on close)."""
    channel = await env.amqp.channel()
    try:
        dlq = await channel.get_queue(topology.dlq_name(env.settings.q(queue)), ensure=False)
        found: dict[str, dict[str, Any]] = {}
        while (message := await dlq.get(no_ack=False, fail=False)) is not None:
            found[str(message.message_id)] = dict(message.headers or {})
        return found
    finally:
        await channel.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def test_dlq_redrive_fails_back_with_history_then_answers_once(env: Env) -> None:
    to = customer()
    where = Filter(tenant=env.tenant_a, type="reply.send", error="provider meta failed")
    env.graph.fail_next(40, "server_error")
    try:
        await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Quero fazer um pedido"))

        async def dead() -> list[Any]:
            moved = await replay_dead_letters(
                env.amqp, env.settings, queues=[topology.SEND_QUEUE], where=where, dry_run=True
            )
            return moved

        # (the sender's relay may also re-drive the `pending` row after 30 s: that copy is
        # another message, so the assertions below follow this one by its id)
        first = (await eventually(dead, timeout=30))[0]
        assert first.reason == "rejected" and first.redrives == 0
        assert first.last_error and "http 500" in first.last_error
        # the filters select: another tenant, another error, another queue find nothing
        assert not await replay_dead_letters(
            env.amqp, env.settings, where=Filter(tenant=str(uuid.uuid4())), dry_run=True
        )
        assert not await replay_dead_letters(
            env.amqp, env.settings, where=Filter(error="no such error"), dry_run=True
        )
        assert not await replay_dead_letters(
            env.amqp, env.settings, queues=[topology.BURST_QUEUE], where=where, dry_run=True
        )

        # redriven while Graph still fails: it fails again and returns with its history
        moved = await replay_dead_letters(
            env.amqp, env.settings, queues=[topology.SEND_QUEUE], where=where
        )
        assert first.message_id in [m.message_id for m in moved]

        async def back() -> dict[str, Any] | None:
            headers = (await peek_dlq(env, topology.SEND_QUEUE)).get(str(first.message_id))
            return headers if headers and headers.get(REDRIVE_COUNT) == 1 else None

        headers = await eventually(back, timeout=30)
        assert headers[REDRIVEN_AT]
        history = [_text(h) for h in headers[DEATH_HISTORY]]
        # its first stay: rejected by sender.replies (one of its conversation shards) after its
        # retry, with the error it met
        assert any(
            re.search(r"sender\.replies(\.shard\.\d+)? rejected", h) and "provider meta failed" in h
            for h in history
        ), history
        assert "provider meta failed" in _text(headers[LAST_ERROR])
        assert headers.get("x-death")  # the broker's record of this second death
        assert env.graph.sent_messages(to=to) == []
    finally:
        env.graph.clear_failures()

    # Graph answers again: the second redrive goes out, exactly once
    again = await replay_dead_letters(
        env.amqp, env.settings, queues=[topology.SEND_QUEUE], where=where
    )
    assert (first.message_id, 1) in [(m.message_id, m.redrives) for m in again]
    assert len(await replies_to(env, to)) == 1
    await settle()
    assert len(env.graph.sent_messages(to=to)) == 1
    assert str(first.message_id) not in await peek_dlq(env, topology.SEND_QUEUE)


async def test_reanswer_answers_the_stored_again_once_per_run_and_never_a_moved_on_one(
    env: Env,
) -> None:
    # greetings: the offline responder answers them without handing over (a conversation
    # handed to a human is never re-answered by the bot: the gate holds for re-answers too)
    since = datetime.now(UTC) - timedelta(seconds=1)
    again, moved_on, fresh = customer(), customer(), customer()
    await post(env, meta_text(PHONE_A, DISPLAY_A, again, "Oi"))
    await post(env, meta_text(PHONE_A, DISPLAY_A, moved_on, "Bom dia"))
    await replies_to(env, again)
    await replies_to(env, moved_on)
    until = datetime.now(UTC)
    # the stream's timestamps have whole seconds: the next message must fall past `until`
    await asyncio.sleep(1.1)
    # after the range: this conversation moved on, re-answering its old question is stale
    await post(env, meta_text(PHONE_A, DISPLAY_A, moved_on, "Boa tarde"))
    await replies_to(env, moved_on, 2)
    lookup = tenant_lookup(env)

    dry = await reanswer_inbound(
        env.amqp, env.settings, env.pool, since=since, until=until, lookup=lookup, dry_run=True
    )
    conversations = {cid for (tenant, cid) in dry.reanswered if tenant == env.tenant_a}
    assert len(conversations) >= 2
    await settle()
    assert len(env.graph.sent_messages(to=again)) == 1

    # an ordinary replay of the same range answers nobody again
    await replay_inbound(env.amqp, env.settings, since=since, until=until)
    await settle()
    assert len(env.graph.sent_messages(to=again)) == 1

    await reanswer_inbound(
        env.amqp, env.settings, env.pool, since=since, until=until, lookup=lookup
    )
    assert len(await replies_to(env, again, 2)) == 2
    # while `fresh` (not in the range) is answered, nothing else of the run shows up
    await post(env, meta_text(PHONE_A, DISPLAY_A, fresh, "Oi"))
    await replies_to(env, fresh)
    await settle()
    assert len(env.graph.sent_messages(to=again)) == 2
    assert len(env.graph.sent_messages(to=moved_on)) == 2

    async def dropped() -> int:
        # events are written in batches: wait for the one the stale re-answer left
        return int(
            await env.pool.fetchval(
                """SELECT count(*) FROM conversation_events e
                   JOIN active_conversations c ON c.id = e.conversation_id
                   WHERE e.client_id = $1 AND $2 IN (c.contact_key, c.contact_phone)
                     AND e.event_type = 'reply_dropped'""",
                env.tenant_a,
                moved_on,
            )
        )

    await eventually(dropped, timeout=15)
    assert await dropped() == 1
