"""A tenant's monthly AI budget in R$: never a surprise bill, never a silent bot.

`tools_config["budget"]` = {"soft_brl": 50, "hard_brl": 80, "cheaper_model": "gpt-4o-mini",
"on_hard": "handover" | "offline"}. The month's spend is priced from the tenant's own usage
events (the price table the metrics use, `wacommon.metrics.prices`) in the business's month
(America/Sao_Paulo unless its hours say otherwise):

- past the soft limit the cheaper model answers (the tenant's model otherwise);
- past the hard limit the conversation goes to a person (`on_hard: handover`, the default:
  the handover alerts the owners as any handover does) or the offline bot answers from the
  knowledge base (`on_hard: offline`).

Each crossing is a `budget_limit_reached` event and a WhatsApp alert to every owner with an
alert number, once per month and level: the alert row's idempotency key carries the month,
so replicas and redeliveries write it once, and the sender's relay sends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import structlog
from pydantic import Field, field_validator

from waai.responders.responder import Responder, ResponderInput, ResponderOutput, Usage
from wacommon.metrics.prices import ModelPrice, reply_cost_usd
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import EventLog
from wacommon.tenants.sections.base import Section, parse_section

log = structlog.get_logger(__name__)

DEFAULT_ZONE = "America/Sao_Paulo"
HANDOVER_CAUSE = "budget_exhausted"
HANDOVER_TEXT = (
    "Vou passar a sua conversa para uma pessoa da nossa equipe, que já vai te responder. 🙂"
)
Level = Literal["ok", "soft", "hard"]


class BudgetSection(Section):
    """`tools_config["budget"]`; a limit left out (or 0) is no limit."""

    soft_brl: Decimal | None = Field(default=None, ge=0)
    hard_brl: Decimal | None = Field(default=None, ge=0)
    cheaper_model: str | None = None
    on_hard: Literal["handover", "offline"] = "handover"

    @field_validator("cheaper_model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @property
    def active(self) -> bool:
        return bool(self.soft_brl) or bool(self.hard_brl)

    def level(self, spent_brl: Decimal) -> Level:
        if self.hard_brl and spent_brl >= self.hard_brl:
            return "hard"
        if self.soft_brl and spent_brl >= self.soft_brl:
            return "soft"
        return "ok"


def budget_of(tools_config: Mapping[str, Any], tenant_id: str = "") -> BudgetSection:
    return parse_section(BudgetSection, tools_config.get("budget"), "budget", tenant_id)


def month_zone(tools_config: Mapping[str, Any]) -> ZoneInfo:
    """The business's zone (its hours' `timezone`), where its month begins."""
    hours = tools_config.get("business_hours")
    name = hours.get("timezone") if isinstance(hours, Mapping) else None
    try:
        return ZoneInfo(str(name or DEFAULT_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# usage per model since the month began: the same events and fields the metrics price
_USAGE_SQL = """
SELECT coalesce(data->>'model', 'default') AS model,
       sum(CASE WHEN event_type <> 'media_processed' THEN {tokens_in} END) AS tokens_in,
       sum(CASE WHEN event_type <> 'media_processed' THEN {tokens_out} END) AS tokens_out,
       sum(CASE WHEN event_type = 'media_processed' AND data->'ok' IS DISTINCT FROM 'false'
                THEN {seconds} END) AS seconds,
       sum(CASE WHEN event_type = 'media_processed' AND data->'ok' IS DISTINCT FROM 'false'
                THEN {images} END) AS images
  FROM conversation_events
 WHERE client_id = $1 AND created_at >= $2
   AND event_type IN ('ai_responded', 'llm_usage', 'media_processed')
 GROUP BY 1
"""
_NUM = (
    "CASE WHEN jsonb_typeof(data->'{k}') = 'number' AND (data->>'{k}')::numeric BETWEEN 0 AND 1e15"
    " THEN (data->>'{k}')::numeric END"
)
USAGE_SQL = _USAGE_SQL.format(
    tokens_in=_NUM.format(k="tokens_in"),
    tokens_out=_NUM.format(k="tokens_out"),
    seconds=_NUM.format(k="seconds"),
    images=_NUM.format(k="images"),
)
_MINUTE = Decimal(60)


def price_usage(rows: list[Mapping[str, Any]], prices: Mapping[str, ModelPrice]) -> Decimal:
    """USD of the usage rows (per model), by the price table ("default" prices the rest)."""
    fallback = prices.get("default", ModelPrice())
    total = Decimal(0)
    for row in rows:
        model = str(row["model"])
        price = prices.get(model, fallback)
        total += reply_cost_usd(prices, model, row["tokens_in"] or 0, row["tokens_out"] or 0)
        total += Decimal(row["seconds"] or 0) * price.audio_per_minute / _MINUTE
        total += Decimal(row["images"] or 0) * price.per_image
    return total


class MonthSpend:
    """A tenant's spend this month in R$, read at most every `ttl_s` per tenant and process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        prices: Mapping[str, ModelPrice],
        usd_brl: Decimal,
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._prices = prices
        self._usd_brl = usd_brl
        self._ttl_s = ttl_s
        self._clock = clock
        self._seen: dict[tuple[str, datetime], tuple[float, Decimal]] = {}

    async def brl(self, tenant_id: str, since: datetime) -> Decimal:
        key = (tenant_id, since)
        hit = self._seen.get(key)
        if hit is not None and self._clock() - hit[0] < self._ttl_s:
            return hit[1]
        rows = await self._pool.fetch(USAGE_SQL, tenant_id, since)
        spent = (price_usage([dict(r) for r in rows], self._prices) * self._usd_brl).quantize(
            Decimal("0.01")
        )
        self._seen[key] = (self._clock(), spent)
        return spent


# one alert row per owner with an alert number, in the conversation that crossed the limit
_ALERT_SQL = """
INSERT INTO chat_messages
  (client_id, conversation_id, direction, role, provider, provider_instance_id, kind, content,
   payload, status, idempotency_key)
SELECT a.client_id, a.id, 'out', 'system', a.provider, a.provider_instance_id, 'text', $3,
       jsonb_build_object('origin', 'system', 'alert_to', u.alert_whatsapp,
                          'alert', 'budget', 'alert_user_id', u.id),
       'pending', 'budget:' || $4 || ':' || u.id
  FROM active_conversations a
  JOIN console_users u ON u.client_id = a.client_id
 WHERE a.client_id = $1 AND a.id = $2 AND u.role = 'owner' AND u.is_active
   AND coalesce(u.alert_whatsapp, '') <> ''
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


def alert_text(level: Level, budget: BudgetSection, spent: Decimal) -> str:
    limit = budget.hard_brl if level == "hard" else budget.soft_brl
    head = f"⚠️ O assistente gastou R$ {spent:.2f} com IA neste mês (limite de R$ {limit:.2f})."
    if level == "soft":
        model = budget.cheaper_model
        then = f"Agora responde com o modelo mais barato ({model})." if model else ""
    elif budget.on_hard == "offline":
        then = "Agora responde só com a base de conhecimento, sem IA, até o mês virar."
    else:
        then = "As próximas conversas vão para a equipe até o mês virar."
    return f"{head} {then} Ajuste o limite no console.".replace("  ", " ")


class BudgetedResponder:
    """The tenant's responder behind its monthly budget (see the module docstring)."""

    def __init__(
        self,
        budget: BudgetSection,
        *,
        primary: Responder,
        cheaper: Callable[[], Responder] | None,
        offline: Responder,
        spend: MonthSpend,
        events: EventLog,
        pool: asyncpg.Pool,
        zone: ZoneInfo,
    ) -> None:
        self._budget = budget
        self._primary = primary
        self._cheaper = cheaper
        self._offline = offline
        self._spend = spend
        self._events = events
        self._pool = pool
        self._zone = zone

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        since = month_start(inp.now, self._zone)
        spent = await self._spend.brl(inp.tenant.id, since)
        level = self._budget.level(spent)
        if level == "ok":
            return await self._primary.respond(inp)
        await self._crossed(inp, level, spent, since)
        if level == "soft":
            if self._cheaper is None:
                return await self._primary.respond(inp)
            return await self._cheaper().respond(inp)
        if self._budget.on_hard == "offline":
            return await self._offline.respond(inp)
        return ResponderOutput(
            messages=[HANDOVER_TEXT],
            handover_reason=HANDOVER_CAUSE,
            usage=Usage(model="budget"),
        )

    async def _crossed(
        self, inp: ResponderInput, level: Level, spent: Decimal, since: datetime
    ) -> None:
        """The event and the owners' alert, once per month and level."""
        month = since.strftime("%Y-%m")
        key = f"{inp.tenant.id}:{month}:{level}"
        ids = await self._pool.fetch(
            _ALERT_SQL,
            inp.tenant.id,
            inp.conversation_id,
            alert_text(level, self._budget, spent),
            key,
        )
        already = await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM conversation_events
                WHERE client_id = $1 AND event_type = $2 AND created_at >= $3
                  AND data->>'level' = $4)""",
            inp.tenant.id,
            ev.BUDGET_LIMIT_REACHED,
            since,
            level,
        )
        if already and not ids:
            return
        limit = self._budget.hard_brl if level == "hard" else self._budget.soft_brl
        action = (
            ("cheaper_model" if self._cheaper is not None else "none")
            if level == "soft"
            else self._budget.on_hard
        )
        log.warning(
            "budget_limit_reached", tenant_id=inp.tenant.id, limit=level, spent_brl=str(spent)
        )
        await self._events.append(
            inp.tenant.id,
            ev.BUDGET_LIMIT_REACHED,
            {
                "level": level,
                "month": month,
                "spent_brl": str(spent),
                "limit_brl": str(limit),
                "action": action,
                "alerts": len(ids),
            },
            conversation_id=inp.conversation_id,
            correlation_id=inp.correlation_id or None,
        )
