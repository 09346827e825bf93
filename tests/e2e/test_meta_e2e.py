"""Meta end to end: gateway + ingest + rag-worker + sender as processes, fake Graph on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.stack import (
    SHORT_SEND_WINDOW,
    Stack,
    eventually,
    meta_status,
    meta_text,
    signed,
    two_tenant_batch,
)
from tests.fakes.server import ServerThread
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE_A, DISPLAY_A, TOKEN_A = "111000111000111", "5511911110000", "EAAtokenA0000000000000000001"
PHONE_B, DISPLAY_B, TOKEN_B = "222000222000222", "5521922220000", "EAAtokenB0000000000000000002"
NO_DEBOUNCE = {"debounce": {"quiet_seconds": 0}}


@dataclass
class Env:
    stack: Stack
    graph: GraphState
    gateway: str
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    tenant_a: str
    tenant_b: str


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE_A: TOKEN_A, PHONE_B: TOKEN_B})
    server = ServerThread(make_graph_app(state)).start()
    yield state, server.url
    server.stop()


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    state, url = graph
    stack = Stack({**test_env, "META_GRAPH_URL": url, **SHORT_SEND_WINDOW})
    services = [stack.add(n) for n in ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=10) as http:
            tenants = []
            for name, phone, display, token in (
                ("Loja A", PHONE_A, DISPLAY_A, TOKEN_A),
                ("Loja B", PHONE_B, DISPLAY_B, TOKEN_B),
            ):
                resp = await http.post(
                    "/admin/clients", headers=AUTH, json={"name": name, "tools_config": NO_DEBOUNCE}
                )
                tid = resp.json()["id"]
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
                            "waba_id": f"waba-{name}",
                        },
                    },
                )
                assert resp.status_code == 201, resp.text
                tenants.append(tid)
            yield Env(stack, state, services[0].url, http, pool, tenants[0], tenants[1])
    finally:
        stack.stop_all()


def customer() -> str:
    return "55119" + str(uuid.uuid4().int)[:8]


async def post(env: Env, body: dict | bytes, secret: str = SECRET) -> httpx.Response:
    raw, headers = signed(body, secret)
    return await env.http.post("/meta/webhook", content=raw, headers=headers)


async def replies_to(env: Env, to: str, n: int = 1, timeout: float = 20) -> list:
    async def check() -> list:
        sent = env.graph.sent_messages(to=to)
        return sent if len(sent) >= n else []

    return await eventually(check, timeout=timeout)  # type: ignore[no-any-return]


async def settle() -> None:
    """Give a wrongly duplicated reply time to show up before asserting there is none."""
    await asyncio.sleep(2.0)


async def test_handshake(env: Env) -> None:
    ok = await env.http.get(
        "/meta/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "test-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    bad = await env.http.get(
        "/meta/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert bad.status_code == 403


async def test_signed_text_webhook_gets_exactly_one_reply(env: Env) -> None:
    to = customer()
    resp = await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi, boa tarde!"))
    assert resp.status_code == 200
    sent = await replies_to(env, to)
    await settle()
    assert len(env.graph.sent_messages(to=to)) == 1
    assert sent[0].headers["authorization"] == f"Bearer {TOKEN_A}"
    assert f"/{PHONE_A}/messages" in sent[0].path
    stored = await env.pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND direction = 'out'"
        " AND status = 'sent' AND provider_message_id = $2",
        env.tenant_a,
        sent[0].response_id,
    )
    assert stored == 1


async def test_duplicate_deliveries_give_one_reply(env: Env) -> None:
    to = customer()
    body = meta_text(PHONE_A, DISPLAY_A, to, "Olá!")
    statuses = await asyncio.gather(*(post(env, body) for _ in range(5)))
    assert [r.status_code for r in statuses] == [200] * 5
    await replies_to(env, to)
    await asyncio.sleep(1.0)
    assert (await post(env, body)).status_code == 200  # Meta retrying later
    await settle()
    assert len(env.graph.sent_messages(to=to)) == 1
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert (
        await env.pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE provider_message_id = $1", wamid
        )
        == 1
    )


async def test_forged_or_unsigned_webhooks_are_refused(env: Env) -> None:
    to = customer()
    body = meta_text(PHONE_A, DISPLAY_A, to, "Oi")
    raw, headers = signed(body, "not-the-app-secret")
    assert (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code == 403
    headers.pop("x-hub-signature-256")
    assert (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code == 401
    raw_bad, headers_bad = signed(b"{not json", SECRET)
    resp = await env.http.post("/meta/webhook", content=raw_bad, headers=headers_bad)
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]
    resp = await post(env, {"object": "page", "entry": []})
    assert resp.status_code == 400 and "whatsapp_business_account" in resp.json()["error"]
    await settle()
    assert env.graph.sent_messages(to=to) == []


async def test_batch_for_two_tenants_replies_from_each_number(env: Env) -> None:
    to = customer()
    assert (
        await post(env, two_tenant_batch((PHONE_A, DISPLAY_A), (PHONE_B, DISPLAY_B), to))
    ).status_code == 200
    sent = await replies_to(env, to, n=2)
    await settle()
    sent = env.graph.sent_messages(to=to)
    assert len(sent) == 2
    by_phone = {s.phone_id: s.headers["authorization"] for s in sent}
    assert by_phone == {PHONE_A: f"Bearer {TOKEN_A}", PHONE_B: f"Bearer {TOKEN_B}"}


async def test_throttled_then_success_gives_one_reply(env: Env) -> None:
    to = customer()
    env.graph.fail_next(1, "rate_limit")
    await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi!"))
    await replies_to(env, to, timeout=30)
    await settle()
    assert len(env.graph.sent_messages(to=to)) == 1


async def test_131047_is_not_retried_and_is_recorded(env: Env) -> None:
    to = customer()
    env.graph.fail_next(1, "reengagement")
    await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi!"))

    async def failed() -> asyncpg.Record | None:
        return await env.pool.fetchrow(
            """SELECT m.status, m.error_code FROM chat_messages m JOIN active_conversations c
               ON c.id = m.conversation_id WHERE c.client_id = $1 AND c.contact_key = $2
               AND m.direction = 'out'""",
            env.tenant_a,
            to,
        )

    row = await eventually(failed)
    row = await eventually(lambda: _status_is(env, to, "failed"))
    assert row["error_code"] == "131047"
    await settle()
    attempts = [
        r
        for r in env.graph.requests
        if r.path.endswith("/messages") and (r.json or {}).get("to") == to
    ]
    assert len(attempts) == 1
    events = await env.pool.fetchval(
        "SELECT count(*) FROM conversation_events WHERE client_id = $1 AND event_type = 'send_failed'"
        " AND data->>'code' = '131047'",
        env.tenant_a,
    )
    assert events >= 1


async def _status_is(env: Env, to: str, status: str) -> asyncpg.Record | None:
    return await env.pool.fetchrow(
        """SELECT m.id, m.status, m.error_code, m.provider_message_id FROM chat_messages m
           JOIN active_conversations c ON c.id = m.conversation_id
           WHERE c.client_id = $1 AND c.contact_key = $2 AND m.direction = 'out' AND m.status = $3""",
        env.tenant_a,
        to,
        status,
    )


async def test_status_webhooks_move_delivery_state_forward_only(env: Env) -> None:
    to = customer()
    await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi"))
    sent = (await replies_to(env, to))[0]
    row = await eventually(lambda: _status_is(env, to, "sent"))
    wamid = row["provider_message_id"]
    assert wamid == sent.response_id
    await post(env, meta_status(PHONE_A, DISPLAY_A, wamid, "read", to))
    await eventually(lambda: _status_is(env, to, "read"))
    # a late "delivered" must not move it back
    await post(env, meta_status(PHONE_A, DISPLAY_A, wamid, "delivered", to))
    await settle()
    assert await _status_is(env, to, "read") is not None


async def test_bot_switched_off_stores_the_message_and_does_not_reply(env: Env) -> None:
    resp = await env.http.post(
        "/admin/clients",
        headers=AUTH,
        json={"name": "Loja C", "bot_active": False, "tools_config": NO_DEBOUNCE},
    )
    tid = resp.json()["id"]
    phone = "333000333000333"
    env.graph.tokens[phone] = "EAAtokenC"
    await env.http.post(
        f"/admin/clients/{tid}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "config": {"phone_id": phone, "access_token": "EAAtokenC"}},
    )
    to = customer()
    body = meta_text(phone, "5531933330000", to, "Oi, tem alguém?")
    assert (await post(env, body)).status_code == 200
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]

    async def stored() -> int:
        return int(
            await env.pool.fetchval(
                "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND provider_message_id = $2",
                tid,
                wamid,
            )
        )

    assert await eventually(stored) == 1
    await settle()
    assert env.graph.sent_messages(to=to) == []


async def test_unknown_number_is_accepted_and_kept_for_replay(env: Env) -> None:
    body = meta_text("999999999999999", "5599999990000", customer(), "Oi")
    assert (await post(env, body)).status_code == 200

    async def kept() -> int:
        return int(
            await env.pool.fetchval(
                "SELECT count(*) FROM unrouted_webhooks WHERE route_key = '999999999999999'"
            )
        )

    assert await eventually(kept) >= 1


async def test_sender_killed_mid_send_gives_no_lost_and_no_double_reply(env: Env) -> None:
    senders = [s for s in env.stack.services.values() if s.name == "sender"]
    to = customer()
    env.graph.fail_next(1, "timeout")  # the fake holds the request: the sender is mid-send
    await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi!"))

    async def in_flight() -> bool:
        return any((r.json or {}).get("to") == to for r in env.graph.requests)

    await eventually(in_flight)
    for svc in senders:
        svc.kill()
    # Meta accepted the send; its status webhook echoes our row id (biz_opaque_callback_data)
    accepted = (await replies_to(env, to))[0]
    callback = (accepted.json or {}).get("biz_opaque_callback_data")
    assert callback
    assert (
        await post(
            env,
            meta_status(PHONE_A, DISPLAY_A, accepted.response_id, "sent", to, callback=callback),
        )
    ).status_code == 200
    await eventually(lambda: _status_is(env, to, "sent"))
    fresh = env.stack.add("sender")
    await env.stack.start(fresh)
    await asyncio.sleep(5)  # past the reconcile window: the new sender must not resend
    assert len(env.graph.sent_messages(to=to)) == 1
    row = await _status_is(env, to, "sent")
    assert row is not None and row["provider_message_id"] == accepted.response_id


async def test_sender_killed_before_the_provider_answered_resends_after_the_window(
    env: Env,
) -> None:
    """No status webhook ever arrives (the request was lost): the reply is not lost."""
    senders = [
        s
        for s in env.stack.services.values()
        if s.name == "sender" and s.process and s.process.poll() is None
    ]
    to = customer()
    env.graph.fail_next(1, "server_error")  # the provider did not take it
    for svc in senders:
        svc.stop()
    await post(env, meta_text(PHONE_A, DISPLAY_A, to, "Oi!"))
    fresh = env.stack.add("sender")
    await env.stack.start(fresh)
    await replies_to(env, to, timeout=40)
    await settle()
    assert len(env.graph.sent_messages(to=to)) == 1
