"""Sender handlers: one outbox group (the bubbles of a reply) delivered in order, at most once.

Each row moves pending -> sending -> sent|failed|dropped|unknown. One send, in order:

1. read the group and the conversation (`send_context`; nothing is claimed yet);
2. wait for the rate limits and the Uazapi pacing, still claiming nothing (a wait of a
   second or more marks the rows `paced_until`, so the relay and other senders leave them);
3. claim the row (pending -> sending, with the bot-gate check) right before the provider
   call; the claim increments `attempts`, the claim's fencing token;
4. call the provider under a deadline counted from the claim (`http_timeout_s`), then record
   the outcome under its own deadline (`record_for_s`).

A claimed row is thus settled within `http_timeout_s + record_for_s` of its claim, and a
`sending` row may be taken over only after `reconcile_s`, which `check_send_timing` refuses
to be shorter. Taking over means: Meta (status webhooks echo the row id and reconcile it
earlier) sends it again; Uazapi and LancePilot (no such callback) never resend a send whose
outcome is unknown: the row becomes `unknown` (event `msg_send_unknown`) and a person
decides. A timeout after the request left is handled the same way. A send the provider
accepted whose record failed (the database away) leaves a receipt in Redis
(`sender.receipts`): the takeover records it instead of sending it again.

A row another live sender holds ends this command: that sender sends the rest of the group
in order, and the relay (`sender.relay`) re-drives whatever a dead sender leaves behind.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from sender import outcomes, ratelimit, stored_media
from sender.deps import SenderDeps
from sender.outcomes import SENDS
from sender.ratelimit import (
    NUMBER_BURST,
    NUMBER_RATE_PER_S,
    DailyCapReached,
    UazapiPacing,
)
from wacommon.broker.consumer import Delivery
from wacommon.broker.dispatch import MessageHandler
from wacommon.broker.schemas import Envelope, SendReply
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import bot_gate
from wacommon.infra.errors import CredentialNotFound, PermanentError, RetryableError
from wacommon.infra.infra_errors import DB_UNAVAILABLE
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import OutboundMessage, ProviderClient, ProviderSendError
from wacommon.repositories import event_types as ev
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories.events import record_event

log = structlog.get_logger(__name__)

FINAL = frozenset({"sent", "delivered", "read", "played", "failed", "dropped", "unknown"})
# origins that are not the bot's: sent whatever the conversation's state (a person wrote them)
NOT_BOT = frozenset({"operator", "system", "human"})
# a wait this long or longer marks the rows as waited on (a shorter one is not worth a write)
HOLD_AFTER_S = 1.0
# another sender's `paced_until` this close to now is taken as over (clock slack)
HOLD_GRACE_S = 0.5

# sent; skipped (final, dropped, failed, unknown: the group goes on); held (another live
# sender holds it, or the outcome waits for a callback: the group stops here)
Step = Literal["sent", "skipped", "held"]


def outbound_message(row: dict[str, Any], to: str) -> OutboundMessage:
    """The provider-neutral message of an outbox row."""
    payload = row.get("payload") or {}
    kind = row["kind"]
    if kind == "interactive" and row.get("provider") != "meta":
        # only Meta has buttons and lists: elsewhere the content is their numbered-text form
        kind = "text"
    return OutboundMessage(
        to=to,
        kind=kind,
        text=row["content"],
        media_url=payload.get("media_url"),
        media_id=payload.get("media_id"),
        caption=payload.get("caption"),
        filename=payload.get("filename"),
        voice=bool(payload.get("voice")),
        template=payload.get("template"),
        interactive=payload.get("interactive"),
        reaction_to=payload.get("reaction_to"),
        reply_to=payload.get("reply_to_message"),
        callback_data=str(row["id"]),
    )


async def handle_send_reply(msg: Envelope, delivery: Delivery, *, deps: SenderDeps) -> None:
    """Deliver every not-yet-final row of the group, in order."""
    if not isinstance(msg, SendReply) or not msg.tenant_id:
        raise PermanentError(f"unexpected message {msg.type}")
    group, conv, last_in, _, earlier = await outbox_repo.send_context(
        deps.pool, msg.tenant_id, msg.outbound_id, msg.conversation_id
    )
    if conv is None:
        return
    if not group:
        log.warning("send_target_missing", outbound_id=msg.outbound_id)
        return
    first = group[0]
    waiting_on_earlier = (
        earlier is not None
        and first["status"] not in FINAL
        and not (first.get("payload") or {}).get("alert_to")
    )
    if waiting_on_earlier:
        # an older reply of this conversation is not out yet (its sender died mid-group,
        # or it waits for its pacing): this one goes after it, never in between its bubbles;
        # whoever finishes that one sends this one on (or the relay does)
        log.info("send_waits_for_earlier", outbound_id=first["id"], earlier_id=earlier)
        return
    sent_any = False
    held = False
    for row in group:
        if row["status"] in FINAL:
            continue
        step = await _deliver(deps, msg, row, conv)
        if step == "held":
            log.info("send_held", outbound_id=row["id"])
            held = True
            break
        # an owner's alert is not an answer to the customer
        alert = (row.get("payload") or {}).get("alert_to")
        sent_any = sent_any or (step == "sent" and not alert)
    if sent_any and last_in is not None:
        await _mark_read(deps, msg.tenant_id, conv, last_in)
    if not held:
        await _send_on(deps, msg, max(int(r["id"]) for r in group))


async def _send_on(deps: SenderDeps, msg: SendReply, after_id: int) -> None:
    """Publish the command of the conversation's next waiting reply (it waited for this one)."""
    if deps.publisher is None:
        return  # the relay re-drives it
    waiting = await outbox_repo.next_waiting(
        deps.pool, msg.tenant_id or "", msg.conversation_id, after_id
    )
    if waiting is None:
        return
    await deps.publisher.publish(
        SendReply(
            tenant_id=msg.tenant_id,
            conversation_id=msg.conversation_id,
            outbound_id=int(waiting["id"]),
            origin=cast(Any, waiting["origin"]),
        ),
        exchange=PIPELINE,
    )


async def _deliver(
    deps: SenderDeps, msg: SendReply, row: dict[str, Any], conv: dict[str, Any]
) -> Step:
    """Wait for the row's turn, claim it, send it."""
    tenant_id = msg.tenant_id or ""
    provider = str(row["provider"])
    if row["status"] == "sending":
        receipt = await deps.receipts.recall(tenant_id, int(row["id"]))
        if receipt is not None:
            return await _record_receipt(deps, msg, row, receipt)
        if not outcomes.resend_when_unknown(provider):
            # its sender died mid-send (or never settled it): it may have gone out
            marked = await outcomes.mark_unknown(
                deps,
                msg,
                row,
                why="sender_died",
                detail="left sending past SEND_RECONCILE_S; the provider has no delivery callback",
                stale_after_s=deps.reconcile_s,
            )
            return "skipped" if marked else "held"
        if not await outbox_repo.sending_is_stale(
            deps.pool, tenant_id, int(row["id"]), deps.reconcile_s
        ):
            return "held"
    elif row["status"] != "pending":
        return "skipped"
    elif _paced_elsewhere(row):
        return "held"
    try:
        creds = await deps.credentials_for(
            tenant_id,
            provider,
            str(row["provider_instance_id"]) if row["provider_instance_id"] else None,
        )
    except CredentialNotFound as exc:
        return await _fail_unsendable(deps, msg, row, code="no_credentials", detail=str(exc))
    client = deps.clients.get(provider)
    if client is None:
        return await _fail_unsendable(
            deps, msg, row, code="no_client", detail=f"no client for {provider}"
        )
    to = (row.get("payload") or {}).get("alert_to") or conv["contact_phone"] or conv["contact_key"]
    # a legacy tenant's number (or its sandbox channel) has no instance id
    number_key = creds.instance_id or f"{creds.source}:{tenant_id}"
    try:
        await _wait_turn(deps, tenant_id, row, creds, to, number_key)
    except DailyCapReached as exc:
        return await _fail_unsendable(deps, msg, row, code="daily_cap", detail=str(exc))
    except Exception as exc:
        # nothing was claimed: the row is as it was, and comes back with the retry or the relay
        raise RetryableError(f"pacing: {exc}") from exc
    started = asyncio.get_running_loop().time()
    claimed = await _claim(deps, msg, row)
    if isinstance(claimed, str):
        return claimed
    return await _send_one(deps, msg, claimed, client, creds, to, number_key, started)


def _paced_elsewhere(row: dict[str, Any]) -> bool:
    """Another live sender waits for this pending row's slot (see `hold_for_pacing`)."""
    until = row.get("paced_until")
    return until is not None and until > datetime.now(UTC) + timedelta(seconds=HOLD_GRACE_S)


async def _wait_turn(
    deps: SenderDeps,
    tenant_id: str,
    row: dict[str, Any],
    creds: ProviderCredentials,
    to: str,
    number_key: str,
) -> None:
    """The rate limits (and Uazapi's anti-ban pacing) of one send; nothing is claimed."""
    config = creds.config
    rate = float(config.get("rate_limit_per_s") or NUMBER_RATE_PER_S)
    burst = int(config.get("rate_limit_burst") or NUMBER_BURST)

    async def hold(seconds: float) -> None:
        if seconds >= HOLD_AFTER_S:
            await outbox_repo.hold_for_pacing(
                deps.pool, tenant_id, int(row["id"]), row.get("burst_id"), seconds
            )

    if row["provider"] == "meta":
        # the pair limit, then the number's (one Redis round trip for both)
        await deps.limiter.acquire_send(number_key, to, rate_per_s=rate, burst=burst, on_wait=hold)
    else:
        await deps.limiter.acquire(ratelimit.number_key(number_key), rate, burst, on_wait=hold)
    if row["provider"] == "uazapi" and deps.pacer is not None:
        await deps.pacer.wait_turn(number_key, UazapiPacing.from_config(config), on_wait=hold)


async def _record_receipt(
    deps: SenderDeps, msg: SendReply, row: dict[str, Any], receipt: str
) -> Step:
    """A stale `sending` row the provider had accepted: record it, never send it again."""
    # the reclaim holds only past the takeover window: its sender may still be recording it
    claimed = await outbox_repo.reclaim_stale_sending(
        deps.pool, msg.tenant_id or "", int(row["id"]), deps.reconcile_s
    )
    if claimed is None:
        return "held"
    provider = str(row["provider"])
    await outcomes.record_sent(deps, msg, claimed, receipt or None, provider)
    log.warning("send_recorded_from_receipt", outbound_id=row["id"], provider=provider)
    return await _announce_sent(deps, msg, row, provider)


async def _announce_sent(
    deps: SenderDeps, msg: SendReply, row: dict[str, Any], provider: str
) -> Step:
    """A recorded send: the console's live status and the sends metric."""
    await deps.notifier.notify(
        msg.tenant_id or "",
        msg.conversation_id,
        "message.status",
        message_id=int(row["id"]),
        status="sent",
    )
    SENDS.labels(provider, "sent").inc()
    return "sent"


async def _claim(deps: SenderDeps, msg: SendReply, row: dict[str, Any]) -> dict[str, Any] | Step:
    """The claimed row, right before its send; else what became of it."""
    tenant_id = msg.tenant_id or ""
    row_id = int(row["id"])
    claimed: dict[str, Any] | None
    if row["status"] == "pending":
        if msg.origin not in NOT_BOT:
            # the common case in one statement: pending and the conversation is the bot's
            claimed = await outbox_repo.claim_for_bot_send(
                deps.pool, tenant_id, row_id, msg.conversation_id
            )
            if claimed is not None:
                return claimed
        claimed = await outbox_repo.claim_for_send(deps.pool, tenant_id, row_id)
    else:
        claimed = await outbox_repo.reclaim_stale_sending(
            deps.pool, tenant_id, row_id, deps.reconcile_s
        )
        if claimed is not None:
            log.warning("send_taken_over", outbound_id=row_id, attempts=claimed["attempts"])
    if claimed is None:
        current = await msg_repo.get_message(deps.pool, tenant_id, row_id)
        if current is None or current["status"] in FINAL:
            return "skipped"
        return "held"
    if not await _still_allowed(deps, msg, claimed):
        return "skipped"
    return claimed


async def _fail_unsendable(
    deps: SenderDeps, msg: SendReply, row: dict[str, Any], *, code: str, detail: str
) -> Step:
    """Fail a row that cannot be sent at all, under a claim of its own."""
    claimed = await _claim(deps, msg, row)
    if isinstance(claimed, str):
        return claimed
    await outcomes.fail(
        deps, msg, claimed, code=code, detail=detail, retryable=False, claim=claimed["attempts"]
    )
    return "skipped"


async def _still_allowed(deps: SenderDeps, msg: SendReply, row: dict[str, Any]) -> bool:
    """Bot-written messages go out only while the conversation is the bot's."""
    if msg.origin in NOT_BOT or row.get("role") == "human":
        return True
    async with deps.pool.acquire() as conn, conn.transaction():
        ok, why = await bot_gate.bot_may_reply(conn, msg.tenant_id or "", msg.conversation_id)
        if ok:
            return True
        await outbox_repo.mark_failed(
            conn,
            msg.tenant_id or "",
            int(row["id"]),
            status="dropped",
            code=None,
            detail=why,
            claim=int(row["attempts"]),
        )
        await record_event(
            conn,
            msg.tenant_id or "",
            ev.REPLY_DROPPED,
            {"why": why, "stage": "send"},
            conversation_id=msg.conversation_id,
            correlation_id=msg.correlation_id,
        )
    await deps.notifier.notify(
        msg.tenant_id or "",
        msg.conversation_id,
        "message.status",
        message_id=int(row["id"]),
        status="dropped",
    )
    SENDS.labels(row["provider"], "dropped").inc()
    log.info("send_dropped", outbound_id=row["id"], why=why)
    return False


async def _send_one(
    deps: SenderDeps,
    msg: SendReply,
    row: dict[str, Any],
    client: ProviderClient,
    creds: ProviderCredentials,
    to: str,
    number_key: str,
    claimed_at: float,
) -> Step:
    provider = row["provider"]
    try:
        # the deadline counts from the claim: nothing between the claim and the answer
        # outlasts `http_timeout_s`, which the takeover window is checked against
        async with asyncio.timeout_at(claimed_at + deps.http_timeout_s):
            row = await stored_media.attach(deps.pool, msg.tenant_id or "", row, client, creds)
            result = await client.send(creds, outbound_message(row, to))
    except TimeoutError:
        exc = ProviderSendError(
            f"{provider}: no answer within {deps.http_timeout_s:g} s of the claim",
            retryable=True,
            code="timeout",
            ambiguous=True,
        )
        settled = await outcomes.provider_error(deps, msg, row, creds, exc, number_key)
        return "skipped" if settled else "held"
    except ProviderSendError as exc:
        settled = await outcomes.provider_error(deps, msg, row, creds, exc, number_key)
        return "skipped" if settled else "held"
    # the provider accepted it: only recording that may be retried now, never the send
    # (a database blip here would otherwise leave the row `sending` and resend it later)
    try:
        async with asyncio.timeout(deps.record_for_s):
            await deps.receipts.keep(
                msg.tenant_id or "", int(row["id"]), result.provider_message_id
            )
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(DB_UNAVAILABLE),
                wait=wait_exponential(multiplier=0.05, max=2.0),
                reraise=True,
            ):
                with attempt:
                    await outcomes.record_sent(deps, msg, row, result.provider_message_id, provider)
    except (TimeoutError, *DB_UNAVAILABLE) as exc:
        log.error(
            "send_record_failed",
            outbound_id=row["id"],
            provider_message_id=result.provider_message_id,
            error=repr(exc)[:300],
        )
        raise RetryableError(f"outbound {row['id']} sent but not recorded") from exc
    log.info("reply_sent", outbound_id=row["id"], provider_message_id=result.provider_message_id)
    return await _announce_sent(deps, msg, row, provider)


async def _mark_read(
    deps: SenderDeps, tenant_id: str, conv: dict[str, Any], last: dict[str, Any]
) -> None:
    """Mark the customer's last message read once answered (per-tenant switch, best effort)."""
    tenant = await deps.tenant_directory.get(tenant_id)
    if tenant is not None and not tenant.mark_read:
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


# one handler per message type the sender consumes (`wacommon.broker.dispatch`)
HANDLERS: dict[type[Envelope], MessageHandler[SenderDeps]] = {SendReply: handle_send_reply}
