"""What `/metricas` and `/api/metrics` show: whose metrics, over which days, read how.

Owners see their tenant; operators every tenant, or one they name in `tenant_id`; agents
are refused by the routes before this runs. The numbers are `wacommon.metrics.live`'s:
past days from `metrics_daily`, today from the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from console.auth.models import CurrentUser
from console.deps import ConsoleDeps
from wacommon.metrics.live import metrics_range
from wacommon.metrics.ranges import ISO_DAY, RangeRefused

# longest range one read may ask for (as the metrics service's default)
MAX_RANGE_DAYS = 400
DEFAULT_DAYS = 7


class UnknownTenant(LookupError):
    """`tenant_id` names no tenant this user may see (answered 404)."""


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """Whose metrics (None = every tenant) over [start, end], as the user asked."""

    tenant: UUID | None
    start: date
    end: date
    preset: int | None  # the length in days when the range ends today (7, 30, 90...)
    today: date  # in the tenant's zone (UTC for every tenant)


def _day(params: Mapping[str, str], field: str) -> date | None:
    raw = (params.get(field) or "").strip()
    if not raw:
        return None
    try:
        if not ISO_DAY.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise RangeRefused(field, "data inválida: use AAAA-MM-DD") from None


async def _tenant(deps: ConsoleDeps, user: CurrentUser, raw: str | None) -> UUID | None:
    if user.tenant_id is not None:
        if raw and raw != str(user.tenant_id):
            raise UnknownTenant(raw)
        return user.tenant_id
    if not raw:
        return None
    try:
        tenant = UUID(raw)
    except ValueError:
        raise UnknownTenant(raw) from None
    if not await deps.pool.fetchval("SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)", tenant):
        raise UnknownTenant(raw)
    return tenant


async def today(deps: ConsoleDeps, tenant: UUID | None) -> date:
    """Today in the tenant's zone (UTC for every tenant, or a zone PostgreSQL does not know)."""
    day: date = await deps.pool.fetchval(
        "SELECT (now() AT TIME ZONE coalesce("
        " (SELECT metrics_tz(timezone) FROM clients WHERE id = $1), 'UTC'))::date",
        tenant,
    )
    return day


async def parse_query(
    deps: ConsoleDeps, user: CurrentUser, params: Mapping[str, str]
) -> MetricsQuery:
    """The scope and range of `params` (`tenant_id`, `from`, `to`, `days`), defaults filled.

    Raises `UnknownTenant` or `RangeRefused`.
    """
    tenant = await _tenant(deps, user, params.get("tenant_id"))
    start, end = _day(params, "from"), _day(params, "to")
    now = await today(deps, tenant)
    days = (params.get("days") or "").strip()
    if days and start is None and end is None:
        if not days.isdigit() or not 1 <= int(days) <= MAX_RANGE_DAYS:
            raise RangeRefused("days", f"use um número de 1 a {MAX_RANGE_DAYS}")
        start = now - timedelta(days=int(days) - 1)
    end = end or now
    if start is None:
        if end < date.min + timedelta(days=DEFAULT_DAYS):
            raise RangeRefused("to", "data fora do calendário")
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise RangeRefused("from", "a data inicial não pode ser depois da final")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeRefused("from", f"período maior que {MAX_RANGE_DAYS} dias")
    preset = (end - start).days + 1 if end == now else None
    return MetricsQuery(tenant, start, end, preset, now)


async def load(deps: ConsoleDeps, query: MetricsQuery) -> dict[str, Any]:
    """The metrics of `query` (`metrics_live.metrics_range`'s answer)."""
    return await metrics_range(
        deps.pool,
        deps.settings.price_map(),
        tenant_id=str(query.tenant) if query.tenant else None,
        start=query.start,
        end=query.end,
        usd_brl=deps.settings.metrics_usd_brl,
        per_tenant=query.tenant is None,
    )
