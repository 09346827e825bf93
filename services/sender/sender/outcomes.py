"""What becomes of a send: recorded as sent, retried later, or failed with its provider code."""

from __future__ import annotations

from typing import Any

import structlog
from prometheus_client import Counter

from sender import ratelimit
from sender.clients.base import ProviderSendError
from sender.deps import SenderDeps
from wacommon import event_types as ev
from wacommon.credentials import ProviderCredentials
from wacommon.errors import RetryableError
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories import providers as providers_repo
from wacommon.schemas import SendReply, utcnow

log = structlog.get_logger(__name__)

SENDS = Counter("wa_sends_total", "Outbound sends", ["provider", "outcome"])
THROTTLING_CODES = frozenset({"130429", "131056", "80007", "4", "429"})


async def record_sent(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    provider_message_id: str | None,
    provider: str,
) -> None:
    tenant_id = msg.tenant_id or ""
    await outbox_repo.mark_sent_recorded(
        deps.pool,
        tenant_id,
        int(row["id"]),
        provider_message_id,
        conversation_id=msg.conversation_id,
        role="human" if row["role"] == "human" else "bot",
        at=utcnow(),
        event_type=ev.MSG_SENT,
        event_data={
            "provider": provider,
            "kind": row["kind"],
            "role": row["role"],
            "origin": msg.origin,
        },
        correlation_id=msg.correlation_id,
    )


async def provider_error(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    creds: ProviderCredentials,
    exc: ProviderSendError,
    number_key: str,
) -> None:
    tenant_id = msg.tenant_id or ""
    if exc.retryable:
        if exc.code in THROTTLING_CODES or exc.http_status == 429:
            await deps.limiter.penalize(ratelimit.number_key(number_key), exc.retry_after or 1.0)
        if not exc.ambiguous:
            await outbox_repo.mark_pending(deps.pool, tenant_id, int(row["id"]), str(exc)[:500])
        SENDS.labels(row["provider"], "retry").inc()
        raise RetryableError(f"provider {row['provider']} failed ({exc.code}): {exc}") from exc
    if exc.credentials_invalid and creds.instance_id:
        await providers_repo.mark_health(
            deps.pool, tenant_id, creds.instance_id, healthy=False, error=f"{exc.code}: {exc}"[:500]
        )
    await fail(
        deps,
        msg,
        row,
        code=exc.code or str(exc.http_status),
        detail=str(exc)[:500],
        retryable=False,
    )


async def fail(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    *,
    code: str | None,
    detail: str,
    retryable: bool,
) -> None:
    tenant_id = msg.tenant_id or ""
    async with deps.pool.acquire() as conn, conn.transaction():
        await outbox_repo.mark_failed(
            conn, tenant_id, int(row["id"]), status="failed", code=code, detail=detail
        )
        await deps.events.append(
            tenant_id,
            ev.SEND_FAILED,
            {
                "provider": row["provider"],
                "code": code,
                "retryable": retryable,
            },
            conversation_id=msg.conversation_id,
            correlation_id=msg.correlation_id,
            conn=conn,
        )
    SENDS.labels(row["provider"], "failed").inc()
    log.warning("send_failed", outbound_id=row["id"], code=code)
    await deps.notifier.notify(
        tenant_id, msg.conversation_id, "message.status", message_id=int(row["id"]), status="failed"
    )
