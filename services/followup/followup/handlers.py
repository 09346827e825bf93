"""What happens to one claimed follow-up: decide, then write and publish exactly once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog

from followup import store
from followup.deps import FollowupDeps
from followup.store import FollowupClaim, Tenant
from followup.writers import FollowupRequest
from wacommon.broker import topology
from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import SendReply
from wacommon.conversation import state as cs
from wacommon.conversation.business_hours import next_allowed_at
from wacommon.conversation.followups import (
    FollowupPlan,
    FollowupStage,
    free_text_allowed,
    parse_plan,
)
from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event

log = structlog.get_logger(__name__)
MEDIA_KINDS = ("audio", "image", "video", "document")


def _next_due(plan: FollowupPlan, stage: int, now: datetime) -> datetime | None:
    following = plan.stage(stage)
    return now + following.delay if following else None


async def _advance(
    deps: FollowupDeps,
    claim: FollowupClaim,
    *,
    stage: int,
    due: datetime | None,
    event: tuple[str, dict[str, Any]] | None = None,
    now: datetime,
) -> bool:
    """Move the claimed row on without sending (wait, skip, stop), if it is still ours."""
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await store.lock_followup(conn, claim):
            return False
        await store.set_followup(conn, claim, stage=stage, due=due)
        if event is not None:
            await record_event(
                conn,
                claim.tenant_id,
                event[0],
                event[1],
                conversation_id=claim.conversation_id,
                at=now,
            )
        return True


def _payload(
    stage: FollowupStage, text: str, *, windowed: bool, number: int
) -> tuple[str, dict[str, Any]]:
    """(kind, provider-neutral body) of the outbound row."""
    base: dict[str, Any] = {"origin": "followup", "stage": number}
    if windowed:
        return "template", {**base, "kind": "template", "template": stage.template}
    if stage.kind in MEDIA_KINDS and stage.media_url:
        return stage.kind, {
            **base,
            "kind": stage.kind,
            "media_url": stage.media_url,
            "caption": text or None,
            "voice": stage.kind == "audio",
        }
    return "text", {**base, "kind": "text", "text": text}


@dataclass(frozen=True)
class Decision:
    """What to do with a locked due conversation, decided without I/O."""

    what: str  # stop | wait | skip | send | write (the writer, an LLM, must run first)
    stage: int
    due: datetime | None = None
    event: tuple[str, dict[str, Any]] | None = None
    kind: str = ""
    text: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def _needs_writer(stage: FollowupStage) -> bool:
    if stage.kind in MEDIA_KINDS and stage.media_url:
        return bool(stage.instruction)
    return not stage.message


def decide(claim: FollowupClaim, tenant: Tenant | None, now: datetime) -> Decision:
    """Stop, wait for allowed hours, skip (24-hour window), send fixed content, or write first."""
    plan = parse_plan(tenant.followup_config if tenant else None)
    stage = plan.stage(claim.stage)
    number = claim.stage + 1
    if tenant is None or not tenant.bot_active or stage is None:
        return Decision("stop", claim.stage)
    allowed = next_allowed_at(plan.allowed_hours, now, tenant.timezone)
    if allowed is None:
        why = {"stage": number, "why": "no_allowed_hours"}
        return Decision("stop", claim.stage, event=(ev.FOLLOWUP_SKIPPED, why))
    if allowed > now:
        return Decision("wait", claim.stage, due=allowed)
    windowed = not free_text_allowed(claim.provider, claim.last_customer_at, now)
    if windowed and stage.template is None:
        why = {"stage": number, "why": "outside_24h_window"}
        return Decision("skip", number, _next_due(plan, number, now), (ev.FOLLOWUP_SKIPPED, why))
    if not windowed and _needs_writer(stage):
        return Decision("write", claim.stage)
    text = "" if windowed else stage.message
    kind, payload = _payload(stage, text, windowed=windowed, number=number)
    return Decision(
        "send", number, _next_due(plan, number, now), kind=kind, text=text, payload=payload
    )


async def apply_locked(conn: Conn, claim: FollowupClaim, d: Decision, now: datetime) -> int | None:
    """Carry out a decision on a row this transaction locked; the outbound id when it sends."""
    if d.what == "send":
        return await _write_send(conn, claim, d, now)
    await store.set_followup(conn, claim, stage=d.stage, due=d.due)
    if d.event is not None:
        await record_event(
            conn,
            claim.tenant_id,
            d.event[0],
            d.event[1],
            conversation_id=claim.conversation_id,
            at=now,
        )
    return None


async def _write_send(conn: Conn, claim: FollowupClaim, d: Decision, now: datetime) -> int | None:
    """Store the outbound row (idempotent per conversation, silence and stage) and advance."""
    key = f"followup:{claim.conversation_id}:{claim.cycle}:{d.stage}"
    outbound_id = await store.insert_outbound(
        conn,
        tenant_id=claim.tenant_id,
        conversation_id=claim.conversation_id,
        provider=claim.provider,
        provider_instance_id=claim.provider_instance_id,
        kind=d.kind,
        content=d.text,
        payload=d.payload,
        idempotency_key=key,
        now=now,
    )
    await store.set_followup(conn, claim, stage=d.stage, due=d.due, sent_at=now)
    if outbound_id is not None:
        await record_event(
            conn,
            claim.tenant_id,
            ev.FOLLOWUP_SENT,
            {"stage": d.stage, "kind": d.kind, "outbound_id": outbound_id},
            conversation_id=claim.conversation_id,
            at=now,
        )
    return outbound_id


async def handle_written(
    claim: FollowupClaim,
    tenant: Tenant,
    *,
    deps: FollowupDeps,
    now: datetime,
) -> str:
    """A stage that needs the writer, outside any transaction; the lease keeps others off."""
    plan = parse_plan(tenant.followup_config)
    stage = plan.stage(claim.stage)
    assert stage is not None
    number = claim.stage + 1
    history = await store.history(
        deps.pool, claim.tenant_id, claim.conversation_id, since=claim.context_reset_at
    )
    decision = await deps.writer.write(
        FollowupRequest(
            tenant_id=claim.tenant_id,
            conversation_id=claim.conversation_id,
            stage=stage,
            stage_number=number,
            contact_name=claim.contact_name,
            history=history,
            now=now,
        )
    )
    if decision.finished:
        return await _finish(deps, claim, now)
    text = decision.text.strip()
    if not text and not (stage.kind in MEDIA_KINDS and stage.media_url):
        await _advance(
            deps,
            claim,
            stage=number,
            due=_next_due(plan, number, now),
            now=now,
            event=(ev.FOLLOWUP_SKIPPED, {"stage": number, "why": "nothing_to_send"}),
        )
        return "skipped"
    kind, payload = _payload(stage, text, windowed=False, number=number)
    send = Decision(
        "send", number, _next_due(plan, number, now), kind=kind, text=text, payload=payload
    )
    async with deps.pool.acquire() as conn, conn.transaction():
        # a customer reply, a handover or another replica since the claim: not ours any more
        if not await store.lock_followup(conn, claim):
            return "superseded"
        outbound_id = await _write_send(conn, claim, send, now)
    if outbound_id is None:
        return "superseded"
    await publish_send(
        deps.publisher, claim.tenant_id, claim.conversation_id, outbound_id, "followup"
    )
    return "sent"


async def _finish(deps: FollowupDeps, claim: FollowupClaim, now: datetime) -> str:
    """The writer judged the conversation finished: close it (event resolved by ai)."""
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await store.lock_followup(conn, claim):
            return "superseded"
        await store.set_followup(conn, claim, stage=claim.stage, due=None)
        await cs.close(
            conn,
            claim.tenant_id,
            claim.conversation_id,
            by="ai",
            cause="followup_finished",
            now=now,
        )
    return "finished"


async def publish_send(
    publisher: Publisher,
    tenant_id: str,
    conversation_id: str,
    outbound_id: int,
    origin: Literal["followup", "reminder"],
) -> bool:
    """Hand the stored row to the sender; a lost publish is retried by the sender's outbox relay."""
    message = SendReply(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        outbound_id=outbound_id,
        origin=origin,
    )
    try:
        await publisher.publish(message, exchange=topology.PIPELINE)
    except Exception as exc:
        log.warning("scheduled_publish_failed", outbound_id=outbound_id, error=repr(exc))
        return False
    return True
