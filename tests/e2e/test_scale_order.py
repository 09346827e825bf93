"""Order and exactly-once with replicas: 2 ingest, 3 rag-workers, 2 senders as processes.

Conversations of two kinds go through the whole pipeline (gateway -> ingest -> rag-worker
-> sender -> fake Graph): "spaced" ones send three one-message bursts, each after the
debounce window, and "rapid" ones send five messages at once. One replica of each kind is
killed with SIGKILL mid-run and started again. The fake LLM echoes the tags of the
messages it answers in three long paragraphs (three bubbles), so the fake Graph's log
says which messages each reply answered. Asserted per conversation from that log:

- every customer message is answered by exactly one reply (no reply twice, none missing);
- replies follow the order of the messages they answer;
- the bubbles of one reply go out in order and are never interleaved with another's.

A burst whose reply is still being generated when the next burst arrives is answered
together with it (the rag-worker's stale-reply rule): that is one reply covering both,
still exactly once and in order.

Sizes: SCALE_E2E_SPACED and SCALE_E2E_RAPID conversations; the default run (`make test`) is
small (20 and 10) to keep CI inside its budget. The issue's full size:

    SCALE_E2E_SPACED=200 SCALE_E2E_RAPID=100 SCALE_E2E_TIMEOUT_S=600 \
        .venv/bin/python -m pytest tests/e2e/test_scale_order.py
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.stack import (
    SHORT_SEND_WINDOW,
    Service,
    Stack,
    eventually,
    meta_text,
    post_meta_statuses,
    signed,
    wait_ready,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import ServerThread
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE, DISPLAY, TOKEN = "336000336000336", "5531933360000", "EAAtokenScale00000000000000001"
SPACED = int(os.environ.get("SCALE_E2E_SPACED", "20"))
RAPID = int(os.environ.get("SCALE_E2E_RAPID", "10"))
QUIET_S = 1.0
REPLICAS = {"lancepilot-ingest": 2, "rag-worker": 3, "sender": 2}
TAG = re.compile(r"\bk(\d+)m(\d+)\b")
BUBBLE = re.compile(r"^R(\d+) ([\d,]+) p(\d)\b")
PARTS = 3
# a paragraph this long keeps every bubble separate (bubbles pack up to 1000 characters)
FILLER = "x" * 600


def echo(body: dict[str, Any]) -> dict[str, Any]:
    """Answer the burst (the last user message) by naming its messages, in three bubbles."""
    last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
    found = TAG.findall(str(last["content"]))
    conv = found[0][0] if found else "0"
    tags = ",".join(m for _, m in found) or "none"
    parts = [f"R{conv} {tags} p{j} {FILLER}" for j in range(1, PARTS + 1)]
    return {"content": "\n\n".join(parts)}


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    http: httpx.AsyncClient
    replicas: dict[str, list[Service]]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphState, str, FakeOpenAI]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    with FakeOpenAI.serve() as ai:
        ai.default = echo
        yield state, server.url, ai
    server.stop()


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[GraphState, str, FakeOpenAI], test_env: dict[str, str]
) -> AsyncIterator[Env]:
    graph, graph_url, ai = fakes
    common = {
        **test_env,
        **SHORT_SEND_WINDOW,
        "META_GRAPH_URL": graph_url,
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": ai.base_url,
        # the shared PostgreSQL serves many test runs: small pools
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "3",
        "SHARD_STANDBY_DELAY_S": "1",
        "SHARD_REBALANCE_S": "5",
    }
    stack = Stack(common)
    gateway = stack.add("meta-gateway")
    replicas = {
        name: [replica(stack, name, i, count) for i in range(count)]
        for name, count in REPLICAS.items()
    }
    try:
        everything = [gateway, *(s for group in replicas.values() for s in group)]
        for svc in everything:
            svc.start()
        async with httpx.AsyncClient() as client:
            for svc in everything:
                # eight processes importing at once on a shared 2-core machine: be patient
                await wait_ready(client, svc, timeout=300)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            await _tenant(http)
            echo = asyncio.create_task(post_meta_statuses(graph, http, PHONE, DISPLAY, SECRET))
            try:
                yield Env(stack, graph, http, replicas)
            finally:
                echo.cancel()
    finally:
        stack.stop_all()


def replica(stack: Stack, name: str, index: int, count: int) -> Service:
    return stack.add(name, {"REPLICA_INDEX": str(index), "REPLICA_COUNT": str(count)})


async def _tenant(http: httpx.AsyncClient) -> None:
    resp = await http.post(
        "/admin/clients",
        headers=AUTH,
        json={
            "name": "Loja Escala",
            "tools_config": {
                "debounce": {"quiet_seconds": QUIET_S},
                "llm_config": {"provider": "openai"},
            },
        },
    )
    assert resp.status_code == 201, resp.text
    tenant = str(resp.json()["id"])
    config = {
        "phone_id": PHONE,
        "display_phone_number": DISPLAY,
        "access_token": TOKEN,
        # the test is about order, not Meta's per-number throughput
        "rate_limit_per_s": 5000,
        "rate_limit_burst": 5000,
    }
    resp = await http.post(
        f"/admin/clients/{tenant}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "is_default": True, "config": config},
    )
    assert resp.status_code == 201, resp.text


async def _post_all(env: Env, bodies: list[dict[str, Any]], limit: int = 16) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(body: dict[str, Any]) -> None:
        raw, headers = signed(body, SECRET)
        async with gate:
            for _ in range(20):
                resp = await env.http.post("/meta/webhook", content=raw, headers=headers)
                if resp.status_code == 200:
                    return
                await asyncio.sleep(0.5)  # 503 while the broker is busy: Meta retries too
            raise AssertionError(f"webhook not accepted: {resp.status_code} {resp.text}")

    await asyncio.gather(*(one(b) for b in bodies))


async def _kill_and_restart(env: Env, index: int) -> None:
    """SIGKILL replica `index` of every scaled service, then start a fresh one in its place."""
    fresh = []
    for name, group in env.replicas.items():
        group[index].kill()
        group[index] = replica(env.stack, name, index, len(group))
        group[index].start()
        fresh.append(group[index])
    async with httpx.AsyncClient() as client:
        # a loaded machine imports slowly; the other replicas carry the shards meanwhile
        for svc in fresh:
            await wait_ready(client, svc, timeout=300)


def _replies(graph: GraphState, to: str) -> list[tuple[str, list[int], int]]:
    """(reply key, message numbers, part) of every bubble sent to `to`, in arrival order."""
    out = []
    for rec in graph.sent_messages(to=to):
        text = str(((rec.json or {}).get("text") or {}).get("body") or "")
        match = BUBBLE.match(text)
        assert match, f"unexpected bubble to {to}: {text[:80]!r}"
        tags = [int(t) for t in match.group(2).split(",")]
        out.append((f"{match.group(1)}:{match.group(2)}", tags, int(match.group(3))))
    return out


def _check(to: str, bubbles: list[tuple[str, list[int], int]], messages: int) -> None:
    # bubbles of one reply: contiguous, parts 1..PARTS in order, each reply once
    replies: list[list[int]] = []
    seen: set[str] = set()
    for start in range(0, len(bubbles), PARTS):
        group = bubbles[start : start + PARTS]
        keys = {key for key, _, _ in group}
        assert len(keys) == 1, f"{to}: bubbles interleaved or cut: {group}"
        assert [p for _, _, p in group] == list(range(1, PARTS + 1)), f"{to}: parts {group}"
        key = group[0][0]
        assert key not in seen, f"{to}: reply {key} sent twice"
        seen.add(key)
        replies.append(group[0][1])
    covered = [m for tags in replies for m in tags]
    assert covered == list(range(messages)), f"{to}: replies answered {replies}"


async def test_bursts_answered_once_in_order_while_replicas_are_killed(env: Env) -> None:
    run = uuid.uuid4().int % 10**6
    spaced = [f"5531{run:06d}{i:04d}" for i in range(SPACED)]
    rapid = [f"5532{run:06d}{i:04d}" for i in range(RAPID)]
    numbers = {to: i for i, to in enumerate(spaced + rapid)}

    def message(to: str, m: int) -> dict[str, Any]:
        return meta_text(PHONE, DISPLAY, to, f"pergunta k{numbers[to]}m{m}")

    async def rapid_bursts() -> None:
        # each conversation's five messages in a row (inside one debounce window)
        for to in rapid:
            await _post_all(env, [message(to, m) for m in range(5)], limit=1)

    async def spaced_bursts() -> None:
        for m in range(3):
            await _post_all(env, [message(to, m) for to in spaced])
            await asyncio.sleep(QUIET_S * 2)

    async def chaos() -> None:
        await asyncio.sleep(QUIET_S * 2)
        await _kill_and_restart(env, 1)

    await asyncio.gather(rapid_bursts(), spaced_bursts(), chaos())

    expected = {**{to: 3 for to in spaced}, **{to: 5 for to in rapid}}

    async def all_answered() -> bool:
        # every reply whole: a bubble whose record timed out on a loaded machine finishes its
        # reply only after the takeover window (SEND_RECONCILE_S), later than the first bubble
        for to, n in expected.items():
            bubbles = _replies(env.graph, to)
            if sum(len(tags) for _, tags, p in bubbles if p == 1) < n:
                return False
            if len(bubbles) < PARTS * len({key for key, _, _ in bubbles}):
                return False
        return True

    await eventually(all_answered, timeout=float(os.environ.get("SCALE_E2E_TIMEOUT_S", "150")))
    await asyncio.sleep(3)  # a duplicate still in flight shows up now
    for to, n in expected.items():
        _check(to, _replies(env.graph, to), n)
