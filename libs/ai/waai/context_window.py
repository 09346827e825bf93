"""How much of the conversation the model sees, and how long a customer may be kept waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wacommon.schemas import utcnow

HISTORY_MESSAGES = 20
HISTORY_HOURS = 72
# the debounce maximum wait when the tenant sets none (lancepilot_ingest.debounce default)
DEFAULT_MAX_WAIT_S = 30.0


def window(tools_config: dict[str, Any]) -> tuple[int, float]:
    """The tenant's (history messages, history hours) from `llm_config`, else the defaults."""
    llm = tools_config.get("llm_config") or {}
    if not isinstance(llm, dict):
        llm = {}
    messages, hours = llm.get("history_messages"), llm.get("history_hours")
    try:
        # fractional hours ("1.5") are valid llm_config; a broken value must not fail the burst
        return (
            HISTORY_MESSAGES if messages in (None, "") else int(float(messages)),
            HISTORY_HOURS if hours in (None, "") else float(hours),
        )
    except (TypeError, ValueError):
        return HISTORY_MESSAGES, HISTORY_HOURS


def history_window(
    client: dict[str, Any], conv: dict[str, Any], now: datetime
) -> tuple[int, datetime]:
    """How many earlier messages the model sees, and since when."""
    max_messages, max_hours = window(client.get("tools_config") or {})
    since = now - timedelta(hours=max_hours)
    if conv["context_reset_at"] and conv["context_reset_at"] > since:
        since = conv["context_reset_at"]
    return max_messages, since


def overdue(client: dict[str, Any], oldest_at: datetime) -> bool:
    """The oldest unanswered message has waited the tenant's debounce maximum wait."""
    raw = (client.get("tools_config") or {}).get("debounce")
    value = raw.get("max_wait_seconds") if isinstance(raw, dict) else None
    try:
        max_wait = DEFAULT_MAX_WAIT_S if value in (None, "") else float(value)
    except (TypeError, ValueError):
        max_wait = DEFAULT_MAX_WAIT_S
    return (utcnow() - oldest_at).total_seconds() >= max_wait
