"""One webhook item the pipeline cannot take is that item's problem, never its neighbours'.

A webhook can carry several messages (Meta batches them). When one of them fails
for a reason retrying cannot fix (a value the database refuses, a shape the code
does not expect), it is kept in `rejected_webhook_items` with the error, counted
and logged once, and the others are processed as usual. An outage is not an item's
problem: it propagates, and the whole webhook is retried (every step is idempotent).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.infra.infra_errors import is_infrastructure
from wacommon.infra.textclean import storable_text

log = structlog.get_logger(__name__)

ITEMS_REJECTED = Counter(
    "wa_webhook_items_rejected_total",
    "Webhook items set aside in rejected_webhook_items (their neighbours went on)",
    ["provider"],
)
MAX_EVIDENCE_CHARS = 100_000


async def isolated(
    work: Awaitable[None],
    *,
    pool: asyncpg.Pool,
    msg: WebhookReceived,
    provider: Provider,
    tenant_id: str | None,
    item: object,
    provider_message_id: str | None,
) -> None:
    """Await one item's work; set the item aside if it fails for a reason of its own."""
    try:
        await work
    except Exception as exc:
        if is_infrastructure(exc):
            raise
        await _reject(pool, msg, provider, tenant_id, item, provider_message_id, exc)


async def _reject(
    pool: asyncpg.Pool,
    msg: WebhookReceived,
    provider: Provider,
    tenant_id: str | None,
    item: object,
    provider_message_id: str | None,
    exc: Exception,
) -> None:
    error = storable_text(f"{type(exc).__name__}: {exc}")[:2000]
    ITEMS_REJECTED.labels(provider.value).inc()
    log.error(
        "webhook_item_rejected",
        provider=provider.value,
        tenant_id=tenant_id,
        provider_message_id=storable_text(provider_message_id or "")[:200],
        error=error,
    )
    await pool.execute(
        "INSERT INTO rejected_webhook_items (client_id, provider, provider_message_id,"
        " correlation_id, item, error) VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        provider.value,
        storable_text(provider_message_id) if provider_message_id else None,
        msg.correlation_id,
        _evidence(item),
        error,
    )


def _evidence(item: object) -> str:
    value: Any = (
        dataclasses.asdict(item)
        if dataclasses.is_dataclass(item) and not isinstance(item, type)
        else item
    )
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return storable_text(text[:MAX_EVIDENCE_CHARS])
