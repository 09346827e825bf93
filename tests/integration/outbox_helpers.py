"""What the outbox tests share: a tenant with one provider instance, sender workers, probes."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from sender.deps import SenderDeps
from sender.handlers import handle_send_reply
from sender.ratelimit import RateLimiter, UazapiPacer
from sender.receipts import RedisReceipts
from tests.fakes.uazapi import UazapiFakeState
from wacommon.broker.consumer import Delivery
from wacommon.broker.schemas import Contact, SendReply, utcnow
from wacommon.infra.crypto import SecretBox
from wacommon.infra.errors import RetryableError
from wacommon.infra.settings import Settings
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import OutboundMessage, SendResult
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import providers as providers_repo

DELIVERY = Delivery(redelivered=False, delivery_count=1, retry_count=0)
# shrunk timings: HTTP deadline + record window + margin stays under the takeover window
HTTP_TIMEOUT_S = 1.5
RECORD_FOR_S = 0.2
RECONCILE_S = 2.0


def worker(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    clients: dict[str, Any],
) -> SenderDeps:
    """One sender process's dependencies (each worker has its own caches)."""
    return SenderDeps(
        pool=pool,
        secrets=SecretBox(None),
        clients=clients,
        limiter=RateLimiter(redis_client, settings),
        reconcile_s=RECONCILE_S,
        http_timeout_s=HTTP_TIMEOUT_S,
        record_for_s=RECORD_FOR_S,
        pacer=UazapiPacer(redis_client, settings),
        receipts=RedisReceipts(redis_client, settings.rkey("sender", "receipt", "")),
    )


class Tenant:
    """A tenant with one provider instance and one conversation with the bot."""

    def __init__(self, pool: asyncpg.Pool, provider: str) -> None:
        self.pool = pool
        self.provider = provider
        self.tenant_id = ""
        self.conversation_id = ""
        self.instance_id = ""
        self.phone = f"55119{uuid.uuid4().int % 10**8:08d}"

    async def seed(self, config: dict[str, Any]) -> Tenant:
        tenant = await clients_repo.create_client(
            self.pool, {"name": "double-send", "api_url": None, "token": uuid.uuid4().hex}
        )
        self.tenant_id = str(tenant["id"])
        instance = await providers_repo.create_provider(
            self.pool,
            SecretBox(None),
            self.tenant_id,
            {"provider_type": self.provider, "config": config, "is_default": True},
        )
        self.instance_id = str(instance["id"])
        conv, _ = await conv_repo.upsert_for_message(
            self.pool,
            self.tenant_id,
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
                self.tenant_id,
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
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            outbound_id=row_id,
            origin="bot",
        )

    async def statuses(self, ids: list[int]) -> list[str]:
        rows = await msg_repo.messages_by_ids(self.pool, self.tenant_id, ids)
        by_id = {int(r["id"]): str(r["status"]) for r in rows}
        return [by_id[i] for i in ids]

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1 AND event_type = $2",
            self.tenant_id,
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
