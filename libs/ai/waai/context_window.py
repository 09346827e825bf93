"""How much of the conversation the model sees, and how long a customer may be kept waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wacommon.broker.schemas import utcnow
from wacommon.tenants.sections.ai import LLMSection
from wacommon.tenants.sections.base import WHOLE
from wacommon.tenants.sections.inbound import DebounceSection

HISTORY_MESSAGES = 20
HISTORY_HOURS = 72
# the debounce maximum wait when the tenant sets none (lancepilot_ingest.debounce default)
DEFAULT_MAX_WAIT_S = 30.0
_HISTORY_KEYS = frozenset({WHOLE, "history_messages", "history_hours"})


def window(llm: LLMSection) -> tuple[int, float]:
    """The tenant's (history messages, history hours) from `llm_config`, else the defaults."""
    if _HISTORY_KEYS.intersection(llm.invalid):
        # one unreadable value must not fail the burst: the pair falls back together
        return HISTORY_MESSAGES, HISTORY_HOURS
    return (
        HISTORY_MESSAGES if llm.history_messages is None else int(llm.history_messages),
        HISTORY_HOURS if llm.history_hours is None else llm.history_hours,
    )


def history_window(
    current: tuple[int, float], conv: dict[str, Any], now: datetime
) -> tuple[int, datetime]:
    """How many earlier messages the model sees, and since when (`current`: `window(...)`)."""
    max_messages, max_hours = current
    since = now - timedelta(hours=max_hours)
    if conv["context_reset_at"] and conv["context_reset_at"] > since:
        since = conv["context_reset_at"]
    return max_messages, since


def overdue(debounce: DebounceSection | None, oldest_at: datetime) -> bool:
    """The oldest unanswered message has waited the tenant's debounce maximum wait."""
    value = debounce.max_wait_seconds if debounce is not None else None
    max_wait = DEFAULT_MAX_WAIT_S if value is None else value
    return (utcnow() - oldest_at).total_seconds() >= max_wait
