"""What becomes of a send: recorded as sent, retried later, failed, or left to a person.

Every function here ends one claim (`row["attempts"]` is its fencing token), so it changes
the row only while that claim is still the current one.
"""

from __future__ import annotations

from typing import Any

import structlog
from prometheus_client import Counter

from sender import ratelimit
from sender.deps import SenderDeps
from wacommon.broker.schemas import SendReply, utcnow
from wacommon.infra.errors import RetryableError
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import ProviderSendError
from wacommon.repositories import event_types as ev
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import record_event

log = structlog.get_logger(__name__)

SENDS = Counter("wa_sends_total", "Outbound sends", ["provider", "outcome"])
THROTTLING_CODES = frozenset({"130429", "131056", "80007", "4", "429"})
# providers that tell us, by a status webhook naming our row, that a send went out (Meta
# echoes `biz_opaque_callback_data`); a send to any other provider whose outcome is unknown
# is never repeated (Uazapi and LancePilot have no such callback)
RECONCILED_BY_CALLBACK = frozenset({"meta"})


def resend_when_unknown(provider: str) -> bool:
    """Whether a send of unknown outcome may be sent again once its window has passed."""
    return provider in RECONCILED_BY_CALLBACK


class OutcomeUnknown(RetryableError):
    """The send may have happened: the row is `unknown`; the rest of its group goes later."""


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
) -> bool:
    """Settle a refused or failed call; False when the row stays `sending` (Meta, ambiguous).

    Raises `RetryableError` when the row (or the rest of its group) should be tried again.
    """
    tenant_id = msg.tenant_id or ""
    claim = int(row["attempts"])
    if exc.retryable:
        if exc.code in THROTTLING_CODES or exc.http_status == 429:
            await deps.limiter.penalize(ratelimit.number_key(number_key), exc.retry_after or 1.0)
        SENDS.labels(row["provider"], "retry").inc()
        if not exc.ambiguous:
            await outbox_repo.mark_pending(
                deps.pool, tenant_id, int(row["id"]), str(exc)[:500], claim=claim
            )
            raise RetryableError(f"provider {row['provider']} failed ({exc.code}): {exc}") from exc
        if resend_when_unknown(row["provider"]):
            # a status webhook reconciles it, else the relay re-drives it after the window
            log.warning("send_outcome_pending_callback", outbound_id=row["id"], code=exc.code)
            return False
        await mark_unknown(deps, msg, row, why="timeout", detail=str(exc)[:500], claim=claim)
        raise OutcomeUnknown(f"outbound {row['id']}: outcome unknown ({exc.code})") from exc
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
        claim=claim,
    )
    return True


async def mark_unknown(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    *,
    why: str,
    detail: str,
    claim: int | None = None,
    stale_after_s: float | None = None,
) -> bool:
    """sending -> unknown with its `msg_send_unknown` event; False when the row moved on."""
    tenant_id = msg.tenant_id or ""
    async with deps.pool.acquire() as conn, conn.transaction():
        marked = await outbox_repo.mark_unknown(
            conn,
            tenant_id,
            int(row["id"]),
            detail=detail,
            claim=claim,
            stale_after_s=stale_after_s,
        )
        if marked is None:
            return False
        await record_event(
            conn,
            tenant_id,
            ev.MSG_SEND_UNKNOWN,
            {"provider": row["provider"], "outbound_id": int(row["id"]), "why": why},
            conversation_id=str(marked["conversation_id"]),
            correlation_id=msg.correlation_id,
        )
    # a person must look at it: the console shows the row as not confirmed
    await deps.notifier.notify(
        tenant_id,
        msg.conversation_id,
        "message.status",
        message_id=int(row["id"]),
        status="unknown",
    )
    SENDS.labels(row["provider"], "unknown").inc()
    log.warning("send_outcome_unknown", outbound_id=row["id"], why=why)
    return True


async def fail(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    *,
    code: str | None,
    detail: str,
    retryable: bool,
    claim: int | None = None,
) -> None:
    tenant_id = msg.tenant_id or ""
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await outbox_repo.mark_failed(
            conn, tenant_id, int(row["id"]), status="failed", code=code, detail=detail, claim=claim
        ):
            return
        await record_event(
            conn,
            tenant_id,
            ev.SEND_FAILED,
            {
                "provider": row["provider"],
                "code": code,
                "retryable": retryable,
            },
            conversation_id=msg.conversation_id,
            correlation_id=msg.correlation_id,
        )
    SENDS.labels(row["provider"], "failed").inc()
    log.warning("send_failed", outbound_id=row["id"], code=code)
    await deps.notifier.notify(
        tenant_id, msg.conversation_id, "message.status", message_id=int(row["id"]), status="failed"
    )
