"""What happens to one claimed reminder: send it once, or cancel, postpone or fail it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from followup import store
from followup.deps import FollowupDeps
from followup.handlers import publish_send
from followup.store import ReminderClaim, Tenant
from followup.writers import ReminderRequest
from wacommon.conversation import state as cs
from wacommon.conversation.followups import free_text_allowed, parse_plan
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event


async def handle_reminder(
    claim: ReminderClaim,
    tenant: Tenant | None,
    *,
    deps: FollowupDeps,
    now: datetime,
    retry: timedelta,
    max_delay: timedelta,
) -> str:
    """Send one due reminder once, or cancel, postpone or fail it with a reason."""
    pool = deps.pool
    conv = await store.reminder_conversation(pool, claim.tenant_id, claim.conversation_id)
    if conv is None or tenant is None or conv["state"] == cs.OPTED_OUT:
        return await _end_reminder(deps, claim, "cancelled", "opted_out", now)
    if conv["state"] == cs.HUMAN:
        if now - claim.due_at > max_delay:
            return await _end_reminder(deps, claim, "cancelled", "human_handover", now)
        async with pool.acquire() as conn, conn.transaction():
            if await store.lock_reminder(conn, claim):
                await store.finish_reminder(conn, claim, status="pending", locked_until=now + retry)
        return "postponed"
    newer = await store.history(
        pool, claim.tenant_id, claim.conversation_id, since=claim.created_at, limit=50
    )
    decision = await deps.checker.check(
        ReminderRequest(
            tenant_id=claim.tenant_id,
            conversation_id=claim.conversation_id,
            text=claim.text,
            due_at=claim.due_at,
            created_at=claim.created_at,
            newer=newer,
        )
    )
    if not decision.send:
        return await _end_reminder(deps, claim, "cancelled", decision.why or "check", now)
    template = parse_plan(tenant.followup_config).reminder_template
    windowed = not free_text_allowed(conv["provider"], conv["last_customer_message_at"], now)
    if windowed and template is None:
        return await _end_reminder(deps, claim, "failed", "outside_24h_window", now)
    payload: dict[str, Any] = (
        {"kind": "template", "template": template, "origin": "reminder"}
        if windowed
        else {"kind": "text", "text": decision.text, "origin": "reminder"}
    )
    async with pool.acquire() as conn, conn.transaction():
        if not await store.lock_reminder(conn, claim):
            return "superseded"
        outbound_id = await store.insert_outbound(
            conn,
            tenant_id=claim.tenant_id,
            conversation_id=claim.conversation_id,
            provider=conv["provider"],
            provider_instance_id=str(conv["provider_instance_id"])
            if conv["provider_instance_id"]
            else None,
            kind=payload["kind"],
            content=decision.text,
            payload=payload,
            idempotency_key=f"reminder:{claim.id}",
            now=now,
        )
        await store.finish_reminder(
            conn, claim, status="sent", outbound_id=outbound_id, sent_at=now
        )
    if outbound_id is not None:
        await publish_send(
            deps.publisher, claim.tenant_id, claim.conversation_id, outbound_id, "reminder"
        )
    return "sent"


async def _end_reminder(
    deps: FollowupDeps, claim: ReminderClaim, status: str, why: str, now: datetime
) -> str:
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await store.lock_reminder(conn, claim):
            return "superseded"
        await store.finish_reminder(conn, claim, status=status, error=why)
        await record_event(
            conn,
            claim.tenant_id,
            ev.REPLY_DROPPED,
            {"why": why, "origin": "reminder", "reminder_id": claim.id},
            conversation_id=claim.conversation_id,
            at=now,
        )
    return status
