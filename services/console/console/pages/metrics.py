"""`/metricas`: the business's own numbers (owners; operators see every tenant; agents 403).

A plain GET form chooses the range (and, for operators, the tenant); htmx swaps only the
numbers (`_metrics_body.html`) and keeps the URL, and while the range ends today the
numbers refresh every minute (today is computed live from the event log).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.metrics_view import UnknownTenant, load, parse_query
from console.pages.common import error_page, unauthorized, viewer
from console.pages.render import is_htmx, render, translator_for
from console.tenant_directory import tenant_name
from waai.turn_quality import HANDOVER_CATEGORIES, SILENT_REASONS
from wacommon.metrics.ranges import RangeRefused

PRESETS = (7, 30, 90)
# handover causes as the services write them (the part before ':'); others shown as written
CAUSES = ("ai", "console", "operator", "customer_command", "human_reply")


def _fmt_int(value: int | None, locale: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,}"
    return text.replace(",", ".") if locale == "pt-BR" else text


def _fmt_money(value: float, locale: str, symbol: str, places: int = 2) -> str:
    text = f"{value:,.{places}f}"
    if locale == "pt-BR":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{symbol} {text}"


def _fmt_ms(value: int | None, locale: str) -> str:
    if value is None:
        return "–"
    if value < 1000:
        return f"{value} ms"
    text = f"{value / 1000:.1f}"
    return f"{text.replace('.', ',') if locale == 'pt-BR' else text} s"


def _fmt_decimal(value: float | None, locale: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,.1f}".removesuffix(".0")
    if locale == "pt-BR":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def _counted(counts: dict[str, int], known: tuple[str, ...]) -> list[dict[str, Any]]:
    """{key: n} as rows with a bar share (of the largest); keys outside `known` as written."""
    most = max(counts.values(), default=0)
    return [
        {"key": key, "n": n, "known": key in known, "share": round(100 * n / most)}
        for key, n in counts.items()
    ]


def _chart(days: list[dict[str, Any]], start: date, end: date) -> dict[str, Any]:
    """Bar heights (0-100) of messages in and out on every day of the range (a quiet day is
    a gap, not left out), for the inline SVG (attributes only: the CSP allows no style)."""
    by_day = {d["day"]: d for d in days}
    peak = max((max(d["messages_in"], d["out"]) for d in days), default=0) or 1
    bars = []
    for i in range((end - start).days + 1):
        name = (start + timedelta(days=i)).isoformat()
        d = by_day.get(name)
        bars.append(
            {
                "day": name,
                "in": round(100 * d["messages_in"] / peak) if d else 0,
                "out": round(100 * d["out"] / peak) if d else 0,
                "live": bool(d and d["live"]),
            }
        )
    return {"bars": bars if days else [], "peak": peak}


def _view(data: dict[str, Any], start: date, end: date, locale: str) -> dict[str, Any]:
    """Formatted figures for the template (numbers stay in `data` for the tests and API)."""
    days = data["days"]
    for d in days:
        d["out"] = d["messages_out_bot"] + d["messages_out_human"]
        d["date"] = date.fromisoformat(d["day"])
    totals = data["totals"]
    totals["out"] = totals["messages_out_bot"] + totals["messages_out_human"]
    return {
        "days": days,
        "totals": totals,
        "causes": _counted(data["handover_causes"], CAUSES),
        "silent": _counted(data["silent_reasons"], SILENT_REASONS),
        "handover_kinds": _counted(data["handover_categories"], HANDOVER_CATEGORIES),
        "tenants": data["tenants"],
        "chart": _chart(days, start, end),
        "bot_share": _percent(totals["resolved_by_ai"], totals["resolved"]),
        "conversion": _percent(totals["followups_converted"], totals["followups_sent"]),
        "num": lambda v: _fmt_int(v, locale),
        "brl": lambda v: _fmt_money(v, locale, "R$"),
        "usd": lambda v: _fmt_money(v, locale, "US$", 4 if v and v < 1 else 2),
        # a turn costs fractions of a cent: four places
        "brl4": lambda v: "–" if v is None else _fmt_money(v, locale, "R$", 4),
        "pct": lambda v: "–" if v is None else f"{round(100 * v)}%",
        "dec": lambda v: _fmt_decimal(v, locale),
        "ms": lambda v: _fmt_ms(v, locale),
    }


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/metricas")
    async def metrics_page(
        request: Request,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        who = await viewer(deps, user)
        if who is None:
            return unauthorized(request)
        if who.user.role == "agent":
            return error_page(request, who, 403)
        params = request.query_params
        error: RangeRefused | None = None
        try:
            query = await parse_query(deps, who.user, params)
        except UnknownTenant:
            return error_page(request, who, 404)
        except RangeRefused as exc:
            # the form again with the field's reason; the numbers of the default range
            error = exc
            query = await parse_query(deps, who.user, {"tenant_id": params.get("tenant_id", "")})
        data = await load(deps, query)
        locale = translator_for(request, who.user).locale
        context: dict[str, Any] = {
            "nav": "metrics",
            "q": query,
            "today": query.today,
            "live": query.end >= query.today,
            "presets": PRESETS,
            "error": error,
            "form": {
                "from": params.get("from", "") if error else query.start.isoformat(),
                "to": params.get("to", "") if error else query.end.isoformat(),
            },
            "operator": who.user.role == "operator",
            "tenant_id": str(query.tenant) if query.tenant else "",
            "tenant_label": await tenant_name(deps.pool, query.tenant) if query.tenant else None,
            "tenant_options": await _tenant_options(deps) if who.user.role == "operator" else [],
            "usd_brl": data["usd_brl"],
            **_view(data, query.start, query.end, locale),
        }
        template = "metrics.html"
        if is_htmx(request):
            # the minute's refresh swaps the numbers only (not the form being edited)
            body = params.get("fragment") == "body"
            template = "_metrics_body.html" if body else "_metrics_page.html"
        return render(
            request,
            template,
            who.user,
            context,
            # htmx swaps only 2xx answers: the form with its error must still arrive
            status_code=422 if error and not is_htmx(request) else 200,
            sound_on=who.sound_on,
        )

    return router


async def _tenant_options(deps: ConsoleDeps) -> list[dict[str, str]]:
    """Every tenant by name, for the operator's filter (a platform has tens to hundreds)."""
    rows = await deps.pool.fetch("SELECT id::text AS id, name FROM clients ORDER BY name, id")
    return [{"id": r["id"], "name": r["name"]} for r in rows]
