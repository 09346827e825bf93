"""Follow-up plans (`clients.followup_config`) and the due time the followup service scans.

`active_conversations.followup_stage` counts the follow-ups sent since the
customer last wrote; `followup_due_at` is when the next one is due (NULL: none).
The rag-worker calls `schedule_followup` after a bot reply; ingest calls
`cancel_followups` on every customer message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event
from wacommon.tenants.sections.base import parse_section
from wacommon.tenants.sections.followups import FollowupsSection

WINDOW = timedelta(hours=24)
# providers whose WhatsApp rules allow free text only inside the customer-service window
WINDOWED_PROVIDERS = frozenset({"meta", "lancepilot"})
DEFAULT_DELAY_MIN = 60.0
DEFAULT_CONVERSION_H = 24.0


@dataclass(frozen=True)
class FollowupStage:
    """One stage: LLM text from `instruction`, a fixed `message`, or media at `media_url`."""

    index: int
    kind: str = "text"
    delay: timedelta = timedelta(minutes=DEFAULT_DELAY_MIN)
    instruction: str = ""
    message: str = ""
    media_url: str | None = None
    # an approved template {name, language, components} for use outside the 24-hour window
    template: dict[str, Any] | None = None


@dataclass(frozen=True)
class FollowupPlan:
    """A tenant's follow-up rules, parsed once per scan."""

    active: bool = False
    stages: list[FollowupStage] = field(default_factory=list)
    allowed_hours: dict[str, Any] = field(default_factory=dict)
    conversion_window: timedelta = timedelta(hours=DEFAULT_CONVERSION_H)
    reminder_template: dict[str, Any] | None = None

    def stage(self, index: int) -> FollowupStage | None:
        """The stage to send after `index` follow-ups, or None when the plan is exhausted."""
        return self.stages[index] if self.active and 0 <= index < len(self.stages) else None


def parse_plan(config: dict[str, Any] | None) -> FollowupPlan:
    """`followup_config` (the seed's keys plus message, media_url, template, max_stages)."""
    return plan_of(parse_section(FollowupsSection, config or None, "followups"))


def plan_of(section: FollowupsSection) -> FollowupPlan:
    """The plan the scans and the rag-worker follow, from the tenant's typed section."""
    stages = [
        FollowupStage(
            index=i,
            kind=raw.type,
            delay=timedelta(minutes=raw.delay_minutes),
            instruction=raw.instruction,
            message=raw.message,
            media_url=raw.media_url,
            template=raw.template,
        )
        for i, raw in enumerate(section.stages)
    ]
    if section.max_stages is not None:
        stages = stages[: section.max_stages]
    return FollowupPlan(
        active=section.active and bool(stages),
        stages=stages,
        allowed_hours=section.allowed_hours,
        conversion_window=timedelta(hours=section.conversion_window_hours),
        reminder_template=section.reminder_template,
    )


def free_text_allowed(provider: str, last_customer_at: datetime | None, now: datetime) -> bool:
    """WhatsApp's customer-service window: official providers need a customer message < 24 h old."""
    if provider not in WINDOWED_PROVIDERS:
        return True
    return last_customer_at is not None and now - last_customer_at < WINDOW


async def schedule_followup(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    followup_config: dict[str, Any] | None,
    last_bot_at: datetime,
    *,
    locked: Mapping[str, Any] | None = None,
) -> datetime | None:
    """After a bot message: when the next follow-up is due (stored), or None if there is none.

    `locked`: the conversation row the caller's transaction holds locked (FOR UPDATE),
    which saves the read; nothing is written when nothing is or was due.
    """
    plan = parse_plan(followup_config)
    if locked is not None:
        if locked.get("state") != "bot":
            return None
        stage = plan.stage(int(locked.get("followup_stage") or 0))
        due = last_bot_at + stage.delay if stage else None
        if due is None and locked.get("followup_due_at") is None:
            return None
        await conn.execute(
            "UPDATE active_conversations SET followup_due_at = $3, updated_at = now()"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
            due,
        )
        return due
    async with conn.transaction():
        stage_index = await conn.fetchval(
            "SELECT followup_stage FROM active_conversations"
            " WHERE client_id = $1 AND id = $2 AND state = 'bot' FOR UPDATE",
            tenant_id,
            conversation_id,
        )
        if stage_index is None:
            return None
        stage = plan.stage(stage_index)
        due = last_bot_at + stage.delay if stage else None
        await conn.execute(
            "UPDATE active_conversations SET followup_due_at = $3, updated_at = now()"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
            due,
        )
        return due


def followup_pending(conversation: Mapping[str, Any]) -> bool:
    """The conversation row has a follow-up stage, due time or sent follow-up to reset."""
    return bool(
        conversation.get("followup_stage")
        or conversation.get("followup_due_at") is not None
        or "last_followup_at" in (conversation.get("attributes") or {})
    )


async def cancel_followups(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    now: datetime | None = None,
    correlation_id: str | None = None,
    conversation: Mapping[str, Any] | None = None,
) -> bool:
    """The customer wrote: reset the stages, drop queued follow-ups; True if one converted.

    `conversation`, the row as the caller's transaction holds it locked, lets a
    conversation with no follow-up state skip the work: a queued follow-up always
    comes with `last_followup_at`, which only this function removes.
    """
    if conversation is not None and not followup_pending(conversation):
        return False
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT a.followup_stage, (a.attributes->>'last_followup_at')::timestamptz AS sent_at,"
            " (a.attributes->>'last_followup_stage')::int AS sent_stage, c.followup_config,"
            " coalesce($3::timestamptz, now()) AS now"
            " FROM active_conversations a JOIN clients c ON c.id = a.client_id"
            " WHERE a.client_id = $1 AND a.id = $2 FOR UPDATE OF a",
            tenant_id,
            conversation_id,
            now,
        )
        if row is None:
            return False
        dropped = await conn.fetch(
            "UPDATE chat_messages SET status = 'dropped', error_detail = 'customer_replied',"
            " updated_at = now() WHERE client_id = $1 AND conversation_id = $2"
            " AND direction = 'out' AND status = 'pending' AND payload->>'origin' = 'followup'"
            " RETURNING id",
            tenant_id,
            conversation_id,
        )
        for d in dropped:
            await record_event(
                conn,
                tenant_id,
                ev.REPLY_DROPPED,
                {"why": "customer_replied", "origin": "followup", "outbound_id": d["id"]},
                conversation_id=conversation_id,
                correlation_id=correlation_id,
                at=now,
            )
        await conn.execute(
            "UPDATE active_conversations SET followup_stage = 0, followup_due_at = NULL,"
            " attributes = attributes - 'last_followup_at' - 'last_followup_stage',"
            " updated_at = now() WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
        )
        window = parse_plan(row["followup_config"]).conversion_window
        sent_at: datetime | None = row["sent_at"]
        if dropped or sent_at is None or row["now"] - sent_at > window:
            return False
        await record_event(
            conn,
            tenant_id,
            ev.FOLLOWUP_CONVERTED,
            {"stage": row["sent_stage"]},
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        return True
