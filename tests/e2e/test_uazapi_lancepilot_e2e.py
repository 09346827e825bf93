"""Uazapi and LancePilot end to end: gateway (admin), ingest, rag-worker and sender as processes.

The fake Uazapi and LancePilot servers run on loopback in this process; the tenant's debounce
window is short (1 s quiet, 4 s maximum wait) so bursts settle quickly.
"""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import cycle
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.stack import CORPUS, Service, Stack, eventually
from tests.fakes.gateway_state import Recorded
from tests.fakes.lancepilot import LancePilotFakeState
from tests.fakes.lancepilot import create_app as lancepilot_app
from tests.fakes.server import ServerThread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from wacommon.infra.settings import Settings

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer test-admin-token"}
OWNER = "5511988880000"
UAZ_TOKEN = "uaz-instance-token-0001"
LP_TOKEN = "lp-bearer-token-0001"
LP_WORKSPACE = "77"
LP_NUMBER = "5511977770000"
DEBOUNCE = {"debounce": {"quiet_seconds": 1, "max_wait_seconds": 4}}
HOURS_DOC = (
    "Horário de funcionamento: a loja abre de segunda a sábado, das 9h às 18h. "
    "Aos domingos a loja fica fechada."
)
HOURS_FACT = "9h às 18h"
# a customer asking about opening hours, split across several messages
HOURS_BURST = ["Oi", "tudo bem?", "queria saber", "qual o horário", "de funcionamento da loja?"]


@dataclass
class Env:
    stack: Stack
    uaz: UazapiFakeState
    lp: LancePilotFakeState
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    tenant: str
    uaz_secret: str
    lp_secret: str

    def ingests(self) -> list[Service]:
        """The ingest replicas currently running."""
        return [
            s
            for s in self.stack.services.values()
            if s.name == "lancepilot-ingest" and s.process is not None and s.process.poll() is None
        ]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[UazapiFakeState, str, LancePilotFakeState, str]]:
    uaz = UazapiFakeState({UAZ_TOKEN}, owner=OWNER)
    lp = LancePilotFakeState({LP_TOKEN}, workspaces={LP_WORKSPACE})
    uaz_server = ServerThread(uazapi_app(uaz)).start()
    lp_server = ServerThread(lancepilot_app(lp)).start()
    yield uaz, uaz_server.url, lp, lp_server.url
    uaz_server.stop()
    lp_server.stop()


def _secret(webhook_url: str | None) -> str:
    assert webhook_url
    return webhook_url.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[UazapiFakeState, str, LancePilotFakeState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    uaz, uaz_url, lp, lp_url = fakes
    stack = Stack(dict(test_env))
    services = [stack.add(n) for n in ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=10) as http:
            resp = await http.post(
                "/admin/clients", headers=AUTH, json={"name": "Loja Uaz", "tools_config": DEBOUNCE}
            )
            assert resp.status_code == 201, resp.text
            tenant = resp.json()["id"]
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "uazapi",
                    "is_default": True,
                    "instance_name": "Celular",
                    "config": {
                        "url": uaz_url,
                        "token": UAZ_TOKEN,
                        "pacing": {"min_delay_ms": 0, "max_extra_delay_ms": 0},
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            uaz_secret = _secret(resp.json()["webhook_url"])
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "lancepilot",
                    "instance_name": "CRM",
                    "config": {
                        "token": LP_TOKEN,
                        "workspace_id": LP_WORKSPACE,
                        "number": LP_NUMBER,
                        "url": lp_url + "/api/v3",
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            lp_secret = _secret(resp.json()["webhook_url"])
            resp = await http.post(
                f"/admin/clients/{tenant}/documents",
                headers=AUTH,
                json={"name": "horarios.txt", "text": HOURS_DOC},
            )
            assert resp.status_code == 201, resp.text
            # the real server echoes each API send back as a fromMe/wasSentByApi webhook
            uaz.webhook_url = f"{services[1].url}/uazapi/webhook/{uaz_secret}"
            yield Env(stack, uaz, lp, http, pool, tenant, uaz_secret, lp_secret)
    finally:
        # signal every process first so they drain in parallel, then wait for each
        for svc in stack.services.values():
            if svc.process is not None and svc.process.poll() is None:
                svc.process.send_signal(signal.SIGTERM)
        stack.stop_all()


def customer() -> str:
    return "55119" + str(uuid.uuid4().int)[:8]


def corpus(provider: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((CORPUS / provider / name).read_text())
    return body


def uazapi_text(
    to: str, text: str, *, msg_id: str | None = None, token: str = UAZ_TOKEN, from_me: bool = False
) -> dict[str, Any]:
    """A Uazapi `messages` webhook built from the real corpus payload."""
    name = "fromme_text_typed_on_phone.json" if from_me else "inbound_text.json"
    body = corpus("uazapi", name)
    short = msg_id or uuid.uuid4().hex.upper()
    jid, lid = f"{to}@s.whatsapp.net", f"{to[-8:]}0000001@lid"
    body.update({"token": token, "owner": OWNER})
    body["chat"].update(
        {
            "wa_chatid": jid,
            "wa_chatlid": lid,
            "owner": OWNER,
            "phone": f"+{to}",
            "wa_fastid": f"{OWNER}:{to}",
        }
    )
    msg = body["message"]
    msg.update(
        {
            "id": f"{OWNER}:{short}",
            "messageid": short,
            "chatid": jid,
            "chatlid": lid,
            "owner": OWNER,
            "messageTimestamp": int(time.time() * 1000),
            "text": text,
        }
    )
    if isinstance(msg["content"], dict):
        msg["content"]["text"] = text
    else:
        msg["content"] = text
    if from_me:
        own = f"{OWNER}@s.whatsapp.net"
        msg.update({"sender": own, "sender_pn": own, "senderName": "Dono da Loja"})
    else:
        msg.update({"sender": lid, "sender_lid": lid, "sender_pn": jid})
    return body


def lancepilot_incoming(
    to: str, text: str, *, campaign: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A LancePilot `message.incoming` webhook (inferred shape, see the corpus SOURCES.md)."""
    body = corpus("lancepilot", "INFERRED_webhook_message_incoming_text.json")
    attrs = body["data"]["attributes"]
    body["data"]["id"] = uuid.uuid4().hex
    attrs.update({"from": to, "to": LP_NUMBER, "timestamp": int(time.time())})
    attrs["message"]["text"]["body"] = text
    body["data"]["relationships"]["contact"]["attributes"]["number"] = to
    if campaign is not None:
        attrs["campaign"] = campaign
    return body


def lancepilot_campaign_send(to: str, text: str, campaign: dict[str, Any]) -> dict[str, Any]:
    """The `message.outgoing` webhook of a campaign message sent to `to`."""
    body = corpus("lancepilot", "INFERRED_webhook_message_outgoing_app.json")
    attrs = body["data"]["attributes"]
    body["data"]["id"] = uuid.uuid4().hex
    attrs.update(
        {
            "from": LP_NUMBER,
            "to": to,
            "source": "campaign",
            "campaign": campaign,
            "timestamp": int(time.time()),
        }
    )
    attrs["message"] = {"type": "text", "text": {"body": text}}
    body["data"].setdefault("relationships", {})["contact"] = {"attributes": {"number": to}}
    return body


async def post_uazapi(
    env: Env, body: dict[str, Any] | bytes, *, secret: str | None = None, via: Service | None = None
) -> httpx.Response:
    url = (via or env.ingests()[0]).url
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            f"{url}/uazapi/webhook/{secret or env.uaz_secret}",
            content=raw,
            headers={"content-type": "application/json"},
        )


async def post_lancepilot(
    env: Env, body: dict[str, Any] | bytes, *, secret: str | None = None
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            f"{env.ingests()[0].url}/lancepilot/webhook/{secret or env.lp_secret}",
            content=raw,
            headers={"content-type": "application/json"},
        )


def uazapi_sent(env: Env, to: str) -> list[Recorded]:
    return [r for r in env.uaz.sent("/send/") if (r.body or {}).get("number") == to]


def lancepilot_sent(env: Env, to: str) -> list[Recorded]:
    return [
        r
        for r in env.lp.sent("/api/v3/workspaces/")
        if f"/contacts/number/{to}/messages" in r.path
        or (f"/contacts/number/{to}/template" in r.path)
    ]


async def uazapi_replies(env: Env, to: str, n: int = 1, timeout: float = 15) -> list[Recorded]:
    async def check() -> list[Recorded]:
        sent = uazapi_sent(env, to)
        return sent if len(sent) >= n else []

    return await eventually(check, timeout=timeout)  # type: ignore[no-any-return]


async def own_echoes(svc: Service) -> float:
    """How many of our own sends the replica recognised in echoed webhooks (its metrics)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{svc.url}/metrics")).text
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("wa_inbound_messages_total{") and all(
            label in name for label in ('provider="uazapi"', 'outcome="own_echo"')
        ):
            return float(value)
    return 0.0


async def settle() -> None:
    """Give a wrongly duplicated reply time to show up (longer than the quiet window)."""
    await asyncio.sleep(1.5)


async def conversation(env: Env, to: str) -> asyncpg.Record | None:
    return await env.pool.fetchrow(
        "SELECT id, state, attributes FROM active_conversations"
        " WHERE client_id = $1 AND contact_key = $2",
        env.tenant,
        to,
    )


async def events(env: Env, to: str, event_type: str) -> list[dict[str, Any]]:
    rows = await env.pool.fetch(
        """SELECT e.data FROM conversation_events e JOIN active_conversations c
           ON c.id = e.conversation_id AND c.client_id = e.client_id
           WHERE e.client_id = $1 AND c.contact_key = $2 AND e.event_type = $3
           ORDER BY e.id""",
        env.tenant,
        to,
        event_type,
    )
    return [dict(r["data"]) for r in rows]


async def inbound_statuses(env: Env, to: str) -> list[str]:
    rows = await env.pool.fetch(
        """SELECT m.status FROM chat_messages m JOIN active_conversations c
           ON c.id = m.conversation_id WHERE m.client_id = $1 AND c.contact_key = $2
           AND m.direction = 'in' ORDER BY m.id""",
        env.tenant,
        to,
    )
    return [r["status"] for r in rows]


async def send_burst(
    env: Env, to: str, texts: list[str], replicas: list[Service] | None = None
) -> None:
    """Post the texts one after another, well inside the quiet window."""
    targets = cycle(replicas or env.ingests())
    for text in texts:
        resp = await post_uazapi(env, uazapi_text(to, text), via=next(targets))
        assert resp.status_code == 200, resp.text
        await asyncio.sleep(0.15)


async def assert_one_reply_using(env: Env, to: str, n_messages: int) -> None:
    sent = await uazapi_replies(env, to)
    await settle()
    sent = uazapi_sent(env, to)
    assert len(sent) == 1, [r.body for r in sent]
    assert sent[0].path == "/send/text" and sent[0].headers["token"] == UAZ_TOKEN
    assert HOURS_FACT in sent[0].body["text"]
    answered = await events(env, to, "ai_responded")
    assert [e["messages"] for e in answered] == [n_messages]


async def test_burst_of_five_gets_one_reply_using_all_five(env: Env) -> None:
    to = customer()
    await send_burst(env, to, HOURS_BURST)
    await assert_one_reply_using(env, to, 5)
    assert await inbound_statuses(env, to) == ["flushed"] * 5
    # our own send comes back as a fromMe/wasSentByApi webhook: ignored, the bot keeps talking
    assert await eventually(lambda: own_echoes(env.ingests()[0])) >= 1
    reply_id = uazapi_sent(env, to)[0].answer["messageid"]
    assert (
        await env.pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND provider_message_id = $2",
            env.tenant,
            reply_id,
        )
        == 1
    )
    row = await conversation(env, to)
    assert row is not None and row["state"] == "bot"


async def test_burst_across_two_ingest_replicas_gets_one_reply(env: Env) -> None:
    second = env.stack.add("lancepilot-ingest")
    await env.stack.start(second)
    replicas = env.ingests()
    assert len(replicas) == 2
    to = customer()
    await send_burst(env, to, HOURS_BURST, replicas)
    await assert_one_reply_using(env, to, 5)


async def test_ingest_killed_mid_window_replies_once_after_restart(
    env: Env, settings: Settings, redis_client: aioredis.Redis
) -> None:
    to = customer()
    await send_burst(env, to, HOURS_BURST[2:])

    async def all_buffered() -> bool:
        row = await conversation(env, to)
        if row is None:
            return False
        key = settings.rkey("debounce", f"b:{env.tenant}:{row['id']}")
        return int(await redis_client.hlen(key)) == 3

    await eventually(all_buffered, every=0.02)
    for svc in env.ingests():
        svc.kill()
    await settle()  # past the quiet window, with no replica alive to flush
    assert uazapi_sent(env, to) == []
    fresh = env.stack.add("lancepilot-ingest")
    await env.stack.start(fresh)
    env.uaz.webhook_url = f"{fresh.url}/uazapi/webhook/{env.uaz_secret}"
    await assert_one_reply_using(env, to, 3)


async def test_customer_typing_past_the_maximum_wait_is_answered(env: Env) -> None:
    to = customer()
    started = time.monotonic()
    sent = 0
    # keeps typing every 0.25 s (never 1 s quiet) until answered, giving up after 20 s (a
    # loaded machine is slow); the maximum wait is 4 s
    while not uazapi_sent(env, to) and time.monotonic() - started < 20:
        resp = await post_uazapi(env, uazapi_text(to, "qual o horário de funcionamento?"))
        assert resp.status_code == 200
        sent += 1
        await asyncio.sleep(0.25)
    replies = uazapi_sent(env, to)
    assert replies, "no reply while the customer kept typing"
    assert HOURS_FACT in replies[0].body["text"]
    answered = await events(env, to, "ai_responded")
    # flushed by the maximum wait: several messages, never a quiet window
    assert answered and 2 <= answered[0]["messages"] <= sent
    # what they typed while that reply was being written is answered once they stop
    for _ in range(3):
        resp = await post_uazapi(env, uazapi_text(to, "qual o horário de funcionamento?"))
        assert resp.status_code == 200
    await uazapi_replies(env, to, n=2)


async def test_lancepilot_campaign_reply_is_answered_through_the_api(env: Env) -> None:
    to = customer()
    campaign = {"id": "camp-42", "name": "Promoção de inverno"}
    send = lancepilot_campaign_send(to, "Promoção de inverno: 20% off esta semana!", campaign)
    assert (await post_lancepilot(env, send)).status_code == 200

    async def stored() -> list[str]:
        return await inbound_statuses(env, to)

    # the campaign message is context for the reply, not something the bot answers
    assert await eventually(stored) == ["received"]
    reply = lancepilot_incoming(to, "Qual o horário de funcionamento da loja?", campaign=campaign)
    assert (await post_lancepilot(env, reply)).status_code == 200

    async def answered() -> list[Recorded]:
        return lancepilot_sent(env, to)

    sent = await eventually(answered, timeout=15)
    await settle()
    sent = lancepilot_sent(env, to)
    assert len(sent) == 1
    assert sent[0].path == (f"/api/v3/workspaces/{LP_WORKSPACE}/contacts/number/{to}/messages/text")
    assert sent[0].headers["authorization"] == f"Bearer {LP_TOKEN}"
    assert HOURS_FACT in sent[0].body["text"]["body"]
    row = await conversation(env, to)
    assert row is not None and row["attributes"].get("campaign") == campaign
    payload = await env.pool.fetchval(
        "SELECT payload FROM chat_messages WHERE client_id = $1 AND provider_message_id = $2",
        env.tenant,
        reply["data"]["id"],
    )
    assert payload["attributes"]["campaign"] == campaign
    assert uazapi_sent(env, to) == []


async def test_human_typing_on_the_phone_pauses_the_bot(env: Env) -> None:
    to = customer()
    human = uazapi_text(to, "Oi! Aqui é a Ana, da loja. Posso ajudar?", from_me=True)
    assert (await post_uazapi(env, human)).status_code == 200

    async def taken_over() -> list[dict[str, Any]]:
        return await events(env, to, "human_takeover")

    await eventually(taken_over)
    assert len(await events(env, to, "human_responded")) == 1
    row = await conversation(env, to)
    assert row is not None and row["state"] == "human"
    assert (
        await post_uazapi(env, uazapi_text(to, "qual o horário de funcionamento?"))
    ).status_code == 200

    async def customer_stored() -> bool:
        return len(await inbound_statuses(env, to)) == 2

    await eventually(customer_stored)
    await settle()
    assert uazapi_sent(env, to) == []
    assert await events(env, to, "ai_responded") == []


async def test_duplicate_webhooks_store_once_and_reply_once(env: Env) -> None:
    to = customer()
    body = uazapi_text(to, "qual o horário de funcionamento da loja?")
    replicas = cycle(env.ingests())
    statuses = await asyncio.gather(*(post_uazapi(env, body, via=next(replicas)) for _ in range(5)))
    assert [r.status_code for r in statuses] == [200] * 5
    await assert_one_reply_using(env, to, 1)
    assert (
        await env.pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND provider_message_id = $2",
            env.tenant,
            body["message"]["messageid"],
        )
        == 1
    )


async def test_refused_webhooks_store_nothing(env: Env) -> None:
    to = customer()
    body = uazapi_text(to, "Oi")
    wrong = "x" * 32
    assert (await post_uazapi(env, body, secret=wrong)).status_code in (401, 403)
    assert (await post_uazapi(env, body, secret="short")).status_code in (401, 403)
    url = env.ingests()[0].url
    async with httpx.AsyncClient(timeout=10) as client:
        for path in ("/uazapi/webhook", "/uazapi/webhook/", "/lancepilot/webhook/"):
            resp = await client.post(url + path, json=body)
            assert resp.status_code in (401, 403), (path, resp.status_code)
    # another provider's secret does not open this provider's endpoint
    assert (await post_uazapi(env, body, secret=env.lp_secret)).status_code in (401, 403)
    assert (
        await post_lancepilot(env, lancepilot_incoming(to, "Oi"), secret=env.uaz_secret)
    ).status_code in (401, 403)
    resp = await post_uazapi(env, uazapi_text(to, "Oi", token="not-the-instance-token"))
    assert resp.status_code == 403
    no_token = copy.deepcopy(body)
    del no_token["token"]
    assert (await post_uazapi(env, no_token)).status_code == 403
    resp = await post_uazapi(env, b"{not json")
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]
    resp = await post_uazapi(env, {"hello": "world", "token": UAZ_TOKEN})
    assert resp.status_code == 400 and "EventType" in resp.json()["error"]
    resp = await post_lancepilot(env, {"data": {}})
    assert resp.status_code == 400 and "event" in resp.json()["error"]
    await settle()
    assert await conversation(env, to) is None
    assert uazapi_sent(env, to) == []
