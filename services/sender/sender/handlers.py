"""Sender handlers: one outbox group (the bubbles of a reply) delivered in order, at most once.

Each row moves pending -> sending -> sent|failed|dropped. `sending` is written
before the provider call: a redelivered command never sends a row again while
that attempt may still be in flight, and a row left `sending` by a dead process is
taken over only after `send_reconcile_s` (Meta echoes the row id in status
webhooks, which reconcile it earlier).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from sender import outcomes, ratelimit, stored_media
from sender.clients.base import OutboundMessage, ProviderSendError
from sender.deps import SenderDeps
from sender.outcomes import SENDS
from sender.ratelimit import (
    NUMBER_BURST,
    NUMBER_RATE_PER_S,
    DailyCapReached,
    UazapiPacing,
)
from wacommon import bot_gate
from wacommon import event_types as ev
from wacommon.broker.consumer import Delivery
from wacommon.credentials import ProviderCredentials
from wacommon.errors import CredentialNotFound, PermanentError, RetryableError
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo
from wacommon.schemas import Envelope, SendReply

log = structlog.get_logger(__name__)

# how long a successful send's record is retried through a database outage (< SEND_RECONCILE_S)
RECORD_SENT_FOR_S = 30.0
DB_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # backend terminated, server shutting down
)
FINAL = frozenset({"sent", "delivered", "read", "played", "failed", "dropped"})
# origins that are not the bot's: sent whatever the conversation's state (a person wrote them)
NOT_BOT = frozenset({"operator", "system", "human"})


class SendInFlight(RetryableError):
    """Another attempt holds the row; look again later."""


def outbound_message(row: dict[str, Any], to: str) -> OutboundMessage:
    """The provider-neutral message of an outbox row."""
    payload = row.get("payload") or {}
    return OutboundMessage(
        to=to,
        kind=row["kind"],
        text=row["content"],
        media_url=payload.get("media_url"),
        media_id=payload.get("media_id"),
        caption=payload.get("caption"),
        filename=payload.get("filename"),
        voice=bool(payload.get("voice")),
        template=payload.get("template"),
        interactive=payload.get("interactive"),
        reply_to=payload.get("reply_to_message"),
        callback_data=str(row["id"]),
    )


async def handle_send_reply(msg: Envelope, delivery: Delivery, *, deps: SenderDeps) -> None:
    """Deliver every not-yet-final row of the group, in order."""
    if not isinstance(msg, SendReply) or not msg.tenant_id:
        raise PermanentError(f"unexpected message {msg.type}")
    tenant_id = msg.tenant_id
    group, conv, last_in, claimed_id = await outbox_repo.send_context(
        deps.pool,
        tenant_id,
        msg.outbound_id,
        msg.conversation_id,
        claim_first=True,
        bot_origin=msg.origin not in NOT_BOT,
    )
    if conv is None:
        return
    if not group:
        log.warning("send_target_missing", outbound_id=msg.outbound_id)
        return
    sent_any = False
    for row in group:
        if row["status"] in FINAL:
            continue
        claimed = row if row["id"] == claimed_id else await _claim_allowed(deps, msg, row)
        if claimed is None:
            continue
        try:
            creds = await deps.credentials_for(
                tenant_id,
                claimed["provider"],
                str(claimed["provider_instance_id"]) if claimed["provider_instance_id"] else None,
            )
        except CredentialNotFound as exc:
            await outcomes.fail(
                deps, msg, claimed, code="no_credentials", detail=str(exc), retryable=False
            )
            continue
        await _send_one(deps, msg, claimed, creds, conv)
        # an owner's alert is not an answer to the customer
        sent_any = sent_any or not (claimed.get("payload") or {}).get("alert_to")
    if sent_any and last_in is not None:
        await _mark_read(deps, tenant_id, conv, last_in)


async def _claim_allowed(
    deps: SenderDeps, msg: SendReply, row: dict[str, Any]
) -> dict[str, Any] | None:
    """The claimed row when it may go out now; None when it was dropped."""
    tenant_id = msg.tenant_id or ""
    if msg.origin not in NOT_BOT:
        # the common case in one statement: pending and the conversation is the bot's
        claimed = await outbox_repo.claim_for_bot_send(
            deps.pool, tenant_id, int(row["id"]), msg.conversation_id
        )
        if claimed is not None:
            return claimed
    claimed = await _claim(deps, tenant_id, row)
    return claimed if await _still_allowed(deps, msg, claimed) else None


async def _claim(deps: SenderDeps, tenant_id: str, row: dict[str, Any]) -> dict[str, Any]:
    claimed = await outbox_repo.claim_for_send(deps.pool, tenant_id, int(row["id"]))
    if claimed is None:
        claimed = await outbox_repo.reclaim_stale_sending(
            deps.pool, tenant_id, int(row["id"]), deps.reconcile_s
        )
    if claimed is None:
        current = await msg_repo.get_message(deps.pool, tenant_id, int(row["id"]))
        if current is not None and current["status"] in FINAL:
            raise SendInFlight("row finished by another attempt; re-check the rest of the group")
        raise SendInFlight(f"outbound {row['id']} is being sent by another attempt")
    return claimed


async def _still_allowed(deps: SenderDeps, msg: SendReply, row: dict[str, Any]) -> bool:
    """Bot-written messages go out only while the conversation is the bot's."""
    if msg.origin in NOT_BOT or row.get("role") == "human":
        return True
    async with deps.pool.acquire() as conn, conn.transaction():
        ok, why = await bot_gate.bot_may_reply(conn, msg.tenant_id or "", msg.conversation_id)
        if ok:
            return True
        await outbox_repo.mark_failed(
            conn, msg.tenant_id or "", int(row["id"]), status="dropped", code=None, detail=why
        )
        await deps.events.append(
            msg.tenant_id or "",
            ev.REPLY_DROPPED,
            {"why": why, "stage": "send"},
            conversation_id=msg.conversation_id,
            correlation_id=msg.correlation_id,
            conn=conn,
        )
    SENDS.labels(row["provider"], "dropped").inc()
    log.info("send_dropped", outbound_id=row["id"], why=why)
    await deps.notifier.notify(
        msg.tenant_id or "",
        msg.conversation_id,
        "message.status",
        message_id=int(row["id"]),
        status="dropped",
    )
    return False


async def _send_one(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    creds: ProviderCredentials,
    conv: dict[str, Any],
) -> None:
    tenant_id = msg.tenant_id or ""
    provider = row["provider"]
    client = deps.clients.get(provider)
    if client is None:
        await outcomes.fail(
            deps, msg, row, code="no_client", detail=f"no client for {provider}", retryable=False
        )
        return
    to = (row.get("payload") or {}).get("alert_to") or conv["contact_phone"] or conv["contact_key"]
    number_key = creds.instance_id or f"legacy:{tenant_id}"
    config = creds.config
    try:
        rate = float(config.get("rate_limit_per_s") or NUMBER_RATE_PER_S)
        burst = int(config.get("rate_limit_burst") or NUMBER_BURST)
        if provider == "meta":
            # the pair limit, then the number's (one Redis round trip for both)
            await deps.limiter.acquire_send(number_key, to, rate_per_s=rate, burst=burst)
        else:
            await deps.limiter.acquire(ratelimit.number_key(number_key), rate, burst)
        if provider == "uazapi" and deps.pacer is not None:
            await deps.pacer.wait_turn(number_key, UazapiPacing.from_config(config))
    except DailyCapReached as exc:
        await outcomes.fail(deps, msg, row, code="daily_cap", detail=str(exc), retryable=False)
        return
    except Exception as exc:
        await outbox_repo.mark_pending(deps.pool, tenant_id, int(row["id"]), f"pacing: {exc}")
        raise RetryableError(f"pacing: {exc}") from exc
    try:
        row = await stored_media.attach(deps.pool, tenant_id, row, client, creds)
        result = await client.send(creds, outbound_message(row, to))
    except ProviderSendError as exc:
        await outcomes.provider_error(deps, msg, row, creds, exc, number_key)
        return
    # the provider accepted it: only recording that may be retried now, never the send
    # (a database blip here would otherwise leave the row `sending` and resend it later)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(DB_UNAVAILABLE),
        wait=wait_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(RECORD_SENT_FOR_S),
        reraise=True,
    ):
        with attempt:
            await outcomes.record_sent(deps, msg, row, result.provider_message_id, provider)
    SENDS.labels(provider, "sent").inc()
    await deps.notifier.notify(
        tenant_id, msg.conversation_id, "message.status", message_id=int(row["id"]), status="sent"
    )
    log.info("reply_sent", outbound_id=row["id"], provider_message_id=result.provider_message_id)


async def _mark_read(
    deps: SenderDeps, tenant_id: str, conv: dict[str, Any], last: dict[str, Any]
) -> None:
    """Mark the customer's last message read once answered (per-tenant switch, best effort)."""

    async def load_tools() -> dict[str, Any]:
        row = await deps.pool.fetchrow("SELECT tools_config FROM clients WHERE id = $1", tenant_id)
        return dict((row["tools_config"] if row else None) or {})

    tools = await deps.tools.get(tenant_id, load_tools)
    if tools.get("mark_read", True) is False:
        return
    if not last["provider_message_id"]:
        return
    client = deps.clients.get(last["provider"])
    if client is None:
        return
    try:
        creds = await deps.credentials_for(
            tenant_id,
            last["provider"],
            str(last["provider_instance_id"]) if last["provider_instance_id"] else None,
        )
        await client.mark_read(
            creds, last["provider_message_id"], chat=conv["contact_phone"] or conv["contact_key"]
        )
    except Exception as exc:
        log.info("mark_read_failed", error=repr(exc)[:300])
