"""A tenant with a Meta number, conversations with messages, and the console served on a
real port in the test's own loop (streams need a real server: the ASGI test transport
waits for a response to end)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from tests.fakes.server import free_port
from wacommon.broker.schemas import utcnow
from wacommon.infra.crypto import SecretBox
from wacommon.repositories import providers as providers_repo


@dataclass
class MetaTenant:
    id: str
    instance_id: str
    phone_id: str
    token: str
    waba_id: str


async def meta_tenant(
    pool: asyncpg.Pool, box: SecretBox, name: str = "Loja", *, bot_active: bool = True
) -> MetaTenant:
    tenant = str(
        await pool.fetchval(
            "INSERT INTO clients (name, bot_active) VALUES ($1, $2) RETURNING id", name, bot_active
        )
    )
    phone_id = str(uuid.uuid4().int % 10**15)
    token = f"EAA{uuid.uuid4().hex}"
    waba = str(uuid.uuid4().int % 10**15)
    row = await providers_repo.create_provider(
        pool,
        box,
        tenant,
        {
            "provider_type": "meta",
            "instance_name": "Principal",
            "config": {
                "phone_id": phone_id,
                "access_token": token,
                "waba_id": waba,
                # one number, one tenant: every test tenant has a display number of its own
                "display_phone_number": f"55119{uuid.uuid4().int % 10**8:08d}",
            },
            "is_default": True,
        },
    )
    return MetaTenant(tenant, str(row["id"]), phone_id, token, waba)


async def conversation(
    pool: asyncpg.Pool,
    tenant: MetaTenant,
    *,
    name: str = "Maria Cliente",
    phone: str | None = None,
    state: str = "bot",
    last_customer_at: datetime | None = None,
    messages: int = 3,
) -> str:
    """A conversation whose customer last wrote at `last_customer_at` (default: now)."""
    phone = phone or f"55119{uuid.uuid4().int % 10**8:08d}"
    at = last_customer_at or utcnow()
    cid = str(
        await pool.fetchval(
            """INSERT INTO active_conversations
                 (client_id, contact_key, contact_phone, contact_name, provider,
                  provider_instance_id, state, last_message_at, last_customer_message_at,
                  last_role)
               VALUES ($1, $2, $2, $3, 'meta', $4, $5, $6, $6, 'customer') RETURNING id""",
            tenant.id,
            phone,
            name,
            tenant.instance_id,
            state,
            at,
        )
    )
    for i in range(messages):
        inbound = i % 2 == 0
        created = at - timedelta(seconds=messages - i)
        await pool.execute(
            """INSERT INTO chat_messages
                 (client_id, conversation_id, direction, role, provider, provider_instance_id,
                  provider_message_id, kind, content, status, created_at, updated_at)
               VALUES ($1, $2, $3, $4, 'meta', $5, $6, 'text', $7, $8, $9, $9)""",
            tenant.id,
            cid,
            "in" if inbound else "out",
            "customer" if inbound else "bot",
            tenant.instance_id,
            f"wamid.{uuid.uuid4().hex}",
            f"mensagem {i}",
            "received" if inbound else "delivered",
            created,
        )
    return cid


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a free loopback port, in this loop (shares the test's pool)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Sse:
    id: int | None
    event: str
    data: dict[str, Any]


class SseReader:
    """Reads server-sent events from a streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 10.0) -> Sse:
        return await asyncio.wait_for(self._next(), timeout)

    async def until(self, match: Any, timeout: float = 15.0) -> Sse:
        """The first event for which `match(event)` is true."""

        async def scan() -> Sse:
            while True:
                event = await self._next()
                if match(event):
                    return event

        return await asyncio.wait_for(scan(), timeout)

    async def _next(self) -> Sse:
        event_id: int | None = None
        name = "message"
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return Sse(event_id, name, json.loads("\n".join(data)))
                event_id, name, data = None, "message", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                event_id = int(value)
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)
        raise EOFError("stream ended")
