"""The dashboard in headless Chromium against `python -m metrics` as a real process.

The service aggregates seeded events itself; the numbers the page shows must be the
rows of `metrics_daily`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e import console_browser
from waai.turn_quality import TurnQuality
from wacommon.repositories import event_types as et
from wacommon.repositories.events import PgEventLog

ADMIN = "test-admin-token"
START = datetime.now(UTC).date() - timedelta(days=6)
DAYS = [START + timedelta(days=i) for i in range(4)]
FIELDS = [
    "conversations",
    "messages_in",
    "messages_out_bot",
    "messages_out_human",
    "resolved_by_ai",
    "resolved_by_human",
    "human_takeovers",
    "response_time_avg_ms",
    "response_time_p90_ms",
    "resolution_time_avg_ms",
    "followups_sent",
    "followups_converted",
    "cost_usd",
]

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]

playwright_api = console_browser.playwright_or_skip()
browser = console_browser.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(pool: asyncpg.Pool) -> dict[str, str]:
    """Two tenants with API keys; tenant A gets four days of varied events."""
    out: dict[str, str] = {}
    for name in ("a", "b"):
        key = f"browser-{name}-{uuid.uuid4().hex}"
        out[f"key_{name}"] = key
        out[name] = str(
            await pool.fetchval(
                "INSERT INTO clients (name, timezone, api_key_hash) VALUES ($1, 'America/Sao_Paulo',"
                " $2) RETURNING id",
                f"Loja {name.upper()} {key[-6:]}",
                hashlib.sha256(key.encode()).hexdigest(),
            )
        )
    log = PgEventLog(pool)
    for i, day in enumerate(DAYS):
        when = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)  # 12:00 in Sao Paulo
        for n in range(i + 2):
            conv = str(uuid.uuid4())

            async def ev(
                kind: str, data: dict[str, Any], c: str = conv, t: datetime = when
            ) -> None:
                await log.append(out["a"], kind, data, conversation_id=c, at=t)

            await ev(et.MSG_RECEIVED, {"provider": "meta", "kind": "text"})
            await ev(
                et.AI_RESPONDED,
                {
                    "model": "gpt-4o-mini",
                    "tokens_in": 900 + n,
                    "tokens_out": 120,
                    "latency_ms": 1200 + 333 * n,
                },
            )
            await ev(et.MSG_SENT, {"provider": "meta", "role": "bot"})
            if n % 2:
                await ev(et.HUMAN_TAKEOVER, {"cause": "tool"})
                await ev(et.MSG_SENT, {"provider": "meta", "role": "human"})
                await ev(et.RESOLVED, {"by": "human", "duration_ms": 600_000 + n})
            else:
                await ev(et.RESOLVED, {"by": "ai", "duration_ms": 90_000 * (n + 1)})
            await ev(et.TOOL_USED, {"tool": "cep", "ok": True})
        await log.append(out["a"], et.FOLLOWUP_SENT, {"stage": 1}, at=when)
        # each day: a grounded turn that handed over, and a reply dropped as stale
        for turn in (
            TurnQuality(passages=2, grounded=True, tokens_in=300, handover="customer_asked"),
            TurnQuality(passages=1, grounded=False, silent="stale", tokens_in=100),
        ):
            await log.append(out["a"], et.TURN_QUALITY, turn.as_event(), at=when)
        await log.append(out["a"], et.SEND_FAILED, {"code": "131047"}, at=when)
        await log.append(out["b"], et.MSG_RECEIVED, {"provider": "uazapi"}, at=when)
    return out


@pytest.fixture()
def service(test_env: dict[str, str], pool: asyncpg.Pool) -> Iterator[str]:
    """`python -m metrics` on a free port with the run's environment; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        **test_env,
        "HTTP_PORT": str(port),
        "METRICS_PORT": str(port),
        "AGGREGATION_INTERVAL_S": "0.3",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "metrics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "metrics service did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def aggregated_by_service(pool: asyncpg.Pool) -> None:
    """Wait (deadline) until the service's loop has moved the watermark past our writes."""
    target = int(await pool.fetchval("SELECT pg_current_xact_id()::text"))
    deadline = time.monotonic() + 60
    while int(await pool.fetchval("SELECT xact_hi::text FROM metrics_watermark")) < target:
        assert time.monotonic() < deadline, "the service never aggregated the seeded events"
        await asyncio.sleep(0.1)


def expected_cell(field: str, row: asyncpg.Record | None) -> str:
    if row is None:
        return "–" if field.endswith("_ms") else ("0.000000" if field == "cost_usd" else "0")
    if field == "response_time_avg_ms":
        value: Any = _avg(row["response_time_sum_ms"], row["response_count"])
    elif field == "resolution_time_avg_ms":
        value = _avg(row["resolution_time_sum_ms"], row["resolution_count"])
    else:
        value = row[field]
    if value is None:
        return "–"
    return f"{value:.6f}" if field == "cost_usd" else str(value)


def _avg(total: int, n: int) -> int | None:
    # PostgreSQL rounds half away from zero; sums here are non-negative
    return int(total / n + 0.5) if n else None


async def show(
    page: Any, base: str, token: str, start: date, end: date, tenant: str | None
) -> None:
    await page.goto(f"{base}/dashboard")
    await page.fill("#token", token)
    await page.click("#sign-in")
    await page.wait_for_selector("body[data-loaded]")
    if tenant is not None:
        await page.select_option("#tenant", tenant)
    await page.fill("#from", start.isoformat())
    await page.fill("#to", end.isoformat())
    await page.click("#show")
    want = f"{tenant or 'all'}:{start.isoformat()}:{end.isoformat()}"
    await page.wait_for_selector(f'body[data-loaded="{want}"]')


async def table(page: Any) -> dict[str, dict[str, str]]:
    return dict(
        await page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('#daily-table tbody tr')].map(
            (tr) => [tr.dataset.day, Object.fromEntries([...tr.querySelectorAll('td[data-field]')]
                .map((td) => [td.dataset.field, td.textContent]))]))"""
        )
    )


async def test_operator_sees_each_tenants_numbers_as_in_metrics_daily(
    pool: asyncpg.Pool, service: str, browser: Any
) -> None:
    tenants = await seed(pool)
    await aggregated_by_service(pool)
    start, end = DAYS[0] - timedelta(days=1), DAYS[-1] + timedelta(days=1)
    rows = {
        r["day"]: r
        for r in await pool.fetch(
            "SELECT * FROM metrics_daily WHERE client_id = $1 AND day BETWEEN $2 AND $3",
            tenants["a"],
            start,
            end,
        )
    }
    assert sorted(rows) == DAYS

    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await show(page, service, ADMIN, start, end, tenants["a"])

    shown = await table(page)
    assert len(shown) == (end - start).days + 1
    for offset in range(len(shown)):
        day = start + timedelta(days=offset)
        for field in FIELDS:
            assert shown[day.isoformat()][field] == expected_cell(field, rows.get(day)), (
                day,
                field,
            )

    kpi = dict(
        await page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('[data-total]')]"
            ".map((e) => [e.dataset.total, e.textContent]))"
        )
    )
    assert kpi["messages_in"] == str(sum(r["messages_in"] for r in rows.values()))
    assert kpi["conversations"] == str(sum(r["conversations"] for r in rows.values()))
    assert kpi["human_takeovers"] == str(sum(r["human_takeovers"] for r in rows.values()))
    assert kpi["cost_usd"] == f"{sum(r['cost_usd'] for r in rows.values()):.6f}"
    assert kpi["failed_sends"] == str(len(DAYS))
    tools = await page.text_content("#tools-table tr[data-tool='cep'] td:nth-child(2)")
    assert tools == str(sum(r["tools_used"]["cep"] for r in rows.values()))
    assert await page.evaluate("typeof Chart") == "function"
    assert await page.evaluate(
        "Chart.getChart('chart-messages').data.datasets[0].data.length"
    ) == len(shown)
    # the reply-quality section: two turns a day, half of them grounded
    quality = dict(
        await page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('[data-quality]')]"
            ".map((e) => [e.dataset.quality, e.textContent]))"
        )
    )
    assert quality["quality_turns"] == str(2 * len(DAYS))
    assert quality["grounded_rate"] == "50%" and quality["passages_per_turn"] == "1.5"
    assert quality["tokens_per_turn"] == "200"
    stale = await page.text_content("#silent-table tr[data-silent='stale'] td:nth-child(2)")
    assert stale == str(len(DAYS))
    asked = "#handover-table tr[data-handover='customer_asked'] td:nth-child(2)"
    assert await page.text_content(asked) == str(len(DAYS))
    assert errors == []

    # the all-tenants view lists tenant B with its own totals
    await show(page, service, ADMIN, start, end, "")
    b_in = await page.text_content(
        f"#tenants-table tr[data-client='{tenants['b']}'] td[data-field='messages_in']"
    )
    assert b_in == str(len(DAYS))


async def test_tenant_key_shows_only_its_own_data(
    pool: asyncpg.Pool, service: str, browser: Any
) -> None:
    tenants = await seed(pool)
    await aggregated_by_service(pool)
    page = await browser.new_page()
    await page.goto(f"{service}/dashboard")
    await page.fill("#token", tenants["key_b"])
    await page.click("#sign-in")
    await page.wait_for_selector("body[data-loaded]")
    assert await page.is_hidden("#tenant-label")
    await page.fill("#from", DAYS[0].isoformat())
    await page.fill("#to", DAYS[-1].isoformat())
    await page.click("#show")
    want = f"{tenants['b']}:{DAYS[0]}:{DAYS[-1]}"
    await page.wait_for_selector(f'body[data-loaded="{want}"]')
    shown = await table(page)
    assert {d: v["messages_in"] for d, v in shown.items()} == {d.isoformat(): "1" for d in DAYS}
    assert await page.text_content("[data-total='messages_in']") == str(len(DAYS))

    bad = await browser.new_page()
    await bad.goto(f"{service}/dashboard")
    await bad.fill("#token", "not-a-key")
    await bad.click("#sign-in")
    await bad.wait_for_selector("#error:not([hidden])")
    assert "not accepted" in (await bad.text_content("#error") or "")
