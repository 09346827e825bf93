"""Admin API: list a tenant's conversations, hand one to a human, resume it; another tenant's is 404."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.conversations import conversations_router
from wacommon.broker.schemas import Contact, utcnow
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(conversations_router(settings, pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def _tenant_with_conversation(pool: asyncpg.Pool) -> tuple[str, str, str]:
    tenant = await clients_repo.create_client(pool, {"name": "Loja", "token": uuid.uuid4().hex})
    phone = f"55119{uuid.uuid4().int % 10**8:08d}"
    conv, _ = await conv_repo.upsert_for_message(
        pool,
        str(tenant["id"]),
        Contact(key=phone, phone=phone),
        provider="meta",
        instance_id=None,
        at=utcnow(),
        role="customer",
    )
    return str(tenant["id"]), str(conv["id"]), phone


async def test_an_operator_hands_a_conversation_over_and_resumes_it(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tenant, cid, phone = await _tenant_with_conversation(pool)
    base = f"/admin/clients/{tenant}/conversations"

    listed = await api.get(base, headers=AUTH, params={"contact": phone})
    assert listed.status_code == 200
    assert [(c["id"], c["state"]) for c in listed.json()] == [(cid, "bot")]

    handed = await api.post(
        f"{base}/{cid}/handover", headers=AUTH, json={"reason": "pedido", "minutes": 30}
    )
    assert handed.status_code == 200, handed.text
    body = handed.json()
    assert (body["state"], body["state_reason"]) == ("human", "operator:pedido")
    assert body["state_until"] is not None
    humans = await api.get(base, headers=AUTH, params={"state": "human", "contact": phone})
    assert [c["id"] for c in humans.json()] == [cid]

    # handed over again without minutes: the human keeps it until someone resumes it
    again = await api.post(f"{base}/{cid}/handover", headers=AUTH, json={})
    assert again.status_code == 200, again.text
    assert (again.json()["state"], again.json()["state_until"]) == ("human", None)

    resumed = await api.post(f"{base}/{cid}/resume", headers=AUTH, json={"reason": "feito"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["state"] == "bot"
    assert (await api.post(f"{base}/{cid}/resume", headers=AUTH, json={})).status_code == 409


async def test_another_tenants_conversation_answers_404_and_nothing_changes(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    owner, cid, _ = await _tenant_with_conversation(pool)
    other, _, _ = await _tenant_with_conversation(pool)

    for action in ("handover", "resume"):
        resp = await api.post(
            f"/admin/clients/{other}/conversations/{cid}/{action}", headers=AUTH, json={}
        )
        assert resp.status_code == 404, resp.text
    row = await conv_repo.get_conversation(pool, owner, cid)
    assert row is not None and row["state"] == "bot"


async def test_bad_input_is_refused_with_a_reason(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tenant, cid, _ = await _tenant_with_conversation(pool)
    base = f"/admin/clients/{tenant}/conversations"

    no_token = await api.post(f"{base}/{cid}/handover", json={})
    assert no_token.status_code == 401
    too_long = await api.post(f"{base}/{cid}/handover", headers=AUTH, json={"minutes": 10**9})
    assert too_long.status_code == 422
    not_an_id = await api.post(f"{base}/not-a-uuid/handover", headers=AUTH, json={})
    assert not_an_id.status_code in (404, 422)
    assert "detail" in not_an_id.json()
