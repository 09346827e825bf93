"""create_reminder: the model schedules a message to the customer; the followup service sends it.

Enabled per tenant with `tools_config["reminders"]` (alias `"criar_lembrete"`): `true`, or an
object `{"active": true, "instructions": "..."}`. Off unless configured. Times are natural
Portuguese ("amanhã às 15h", "daqui a 2 dias", "dia 10") or ISO, resolved in the tenant's
time zone; an ambiguous or past expression comes back to the model as an error to ask about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from waai.tools.calendar_hours import WEEKDAYS_PT, zone
from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec
from wacommon.conversation.reminders import AmbiguousTime, create_reminder, parse_when

MAX_TEXT = 500


def reminder_tool(instructions: str = "") -> Tool:
    """The create_reminder tool, bound to the conversation the reply is for."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        if ctx.conversation_id is None:
            raise ToolFailed("no_conversation", "Reminders need a conversation.")
        when, text = str(args["when"]).strip(), str(args["text"]).strip()[:MAX_TEXT]
        tz = zone(ctx.timezone)
        try:
            async with ctx.pool.acquire() as conn:
                # a reply dropped as stale is generated again: the same call must not add a twin
                existing = await conn.fetchrow(
                    "SELECT id, due_at, text FROM reminders WHERE client_id = $1"
                    " AND conversation_id = $2 AND status = 'pending' AND due_at = $3",
                    ctx.tenant_id,
                    ctx.conversation_id,
                    parse_when(when, ctx.now, tz.key),
                )
                if existing is not None:
                    return _answer(
                        str(existing["id"]), existing["due_at"], existing["text"], tz, again=True
                    )
                reminder = await create_reminder(
                    conn, ctx.tenant_id, ctx.conversation_id, when, text, ctx.now, tz.key
                )
        except AmbiguousTime as exc:
            raise ToolFailed("ambiguous_time", f"{exc} Ask the customer for day and time.") from exc
        except LookupError as exc:
            raise ToolFailed(
                "conversation_unavailable", "This conversation takes no reminders."
            ) from exc
        return _answer(reminder.id, reminder.due_at, reminder.text, tz, again=False)

    return Tool(
        ToolSpec(
            "create_reminder",
            "Schedule a reminder message to this customer at a future time they asked for.",
            {
                "type": "object",
                "properties": {
                    "when": {
                        "type": "string",
                        "description": "When, as the customer said it in Portuguese"
                        " (e.g. 'amanhã às 15h', 'daqui a 2 dias', 'dia 10 às 9h') or ISO 8601.",
                    },
                    "text": {
                        "type": "string",
                        "description": "What to remind the customer of, in their language.",
                    },
                },
                "required": ["when", "text"],
            },
        ),
        run,
        instructions,
        sends_later=True,
    )


def _answer(
    reminder_id: str, due_at: datetime, text: str, tz: ZoneInfo, *, again: bool
) -> dict[str, Any]:
    local = due_at.astimezone(tz)
    answer: dict[str, Any] = {
        "reminder_id": reminder_id,
        "due_at": local.isoformat(),
        "when": f"{WEEKDAYS_PT[local.weekday()]}, {local:%d/%m/%Y %H:%M}",
        "text": text,
    }
    if again:
        answer["already_scheduled"] = True
    return answer
