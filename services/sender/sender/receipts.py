"""Send receipts: a provider's "accepted" kept outside PostgreSQL until the row records it.

Between the provider accepting a send and the row becoming `sent` there is one database
write. When the database is unreachable for longer than that write may take
(`SEND_RECORD_TIMEOUT_S`), the row stays `sending`, and the sender that takes it over once
the window has passed cannot tell a send that went out from one that never left: Meta's
rows would be sent again, the others marked `unknown` for a person to check. The receipt,
written to Redis before the database record, lets the takeover record what happened
instead. A receipt that could not be written (Redis down as well) leaves the old rules.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import redis.asyncio as aioredis
import structlog

log = structlog.get_logger(__name__)

# longer than any takeover window, sweeper delay or outage a row can sit through
RECEIPT_TTL_S = 7 * 24 * 3600
# a slow Redis must not eat the record's own deadline
WRITE_TIMEOUT_S = 0.5


class Receipts(Protocol):
    async def keep(self, tenant_id: str, row_id: int, provider_message_id: str | None) -> None:
        """Remember that the provider accepted this row's send (never raises)."""

    async def recall(self, tenant_id: str, row_id: int) -> str | None:
        """The receipt of an accepted send ('' when the provider gave no id), else None."""


class NoReceipts:
    """For handlers built without Redis (unit wiring): the takeover rules alone."""

    async def keep(self, tenant_id: str, row_id: int, provider_message_id: str | None) -> None:
        return None

    async def recall(self, tenant_id: str, row_id: int) -> str | None:
        return None


class RedisReceipts:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, tenant_id: str, row_id: int) -> str:
        return f"{self._prefix}{tenant_id}:{row_id}"

    async def keep(self, tenant_id: str, row_id: int, provider_message_id: str | None) -> None:
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self._redis.set(
                    self._key(tenant_id, row_id), provider_message_id or "", ex=RECEIPT_TTL_S
                )
        except Exception as exc:  # the receipt is a second line: the record still follows
            log.warning("send_receipt_not_kept", outbound_id=row_id, error=repr(exc)[:200])

    async def recall(self, tenant_id: str, row_id: int) -> str | None:
        # a Redis error propagates: the consumer pauses for the outage rather than resend
        # a row whose receipt it could not read
        raw = await self._redis.get(self._key(tenant_id, row_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)
