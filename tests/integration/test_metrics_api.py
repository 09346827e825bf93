"""Read API and dashboard routes of the metrics service, over a real database."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from metrics import report
from metrics.aggregate import aggregate_increment
from metrics.app import metrics_app
from metrics.main import bootstrap
from metrics.settings import MetricsSettings
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.repositories import event_types as et
from wacommon.repositories.events import PgEventLog

ADMIN = "test-admin-token"
DAY = datetime.now(UTC).date() - timedelta(days=20)


def metrics_settings(settings: Settings, **overrides: Any) -> MetricsSettings:
    values: dict[str, Any] = {**settings.model_dump(), **overrides}
    return MetricsSettings(_env_file=None, **values)  # type: ignore[call-arg]


async def new_tenant(pool: asyncpg.Pool, key: str, tz: str = "UTC") -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return str(
        await pool.fetchval(
            "INSERT INTO clients (name, timezone, api_key_hash) VALUES ($1, $2, $3) RETURNING id",
            f"api-{uuid.uuid4().hex[:8]}",
            tz,
            digest,
        )
    )


async def drain(pool: asyncpg.Pool, prices: dict[str, Any]) -> None:
    """Aggregate until everything committed so far is below the watermark."""
    target = int(await pool.fetchval("SELECT pg_current_xact_id()::text"))
    deadline = time.monotonic() + 30
    while int(await pool.fetchval("SELECT xact_hi::text FROM metrics_watermark")) < target:
        assert time.monotonic() < deadline, "watermark did not pass the writes"
        await aggregate_increment(pool, prices)
        await asyncio.sleep(0.02)


@pytest.fixture()
async def tenants(pool: asyncpg.Pool, settings: Settings) -> dict[str, str]:
    """Two tenants with API keys and three days of events, aggregated."""
    keys = {"a": f"key-a-{uuid.uuid4().hex}", "b": f"key-b-{uuid.uuid4().hex}"}
    ids = {name: await new_tenant(pool, key) for name, key in keys.items()}
    log = PgEventLog(pool)
    for offset in range(3):
        day = DAY + timedelta(days=offset)
        when = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
        for n in range(offset + 2):
            conv = str(uuid.uuid4())
            await log.append(
                ids["a"], et.MSG_RECEIVED, {"provider": "meta"}, conversation_id=conv, at=when
            )
            data = {
                "model": "gpt-4o-mini",
                "tokens_in": 500,
                "tokens_out": 80,
                "latency_ms": 1500 + 250 * n + 1000 * offset,
            }
            await log.append(ids["a"], et.AI_RESPONDED, data, conversation_id=conv, at=when)
            await log.append(ids["a"], et.TOOL_USED, {"tool": "cep", "ok": n % 2 == 0}, at=when)
        await log.append(ids["a"], et.SEND_FAILED, {"code": "131047"}, at=when)
        await log.append(ids["b"], et.MSG_RECEIVED, {"provider": "uazapi"}, at=when)
    await drain(pool, metrics_settings(settings).price_map())
    return {**ids, "key_a": keys["a"], "key_b": keys["b"]}


@pytest.fixture()
async def client(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = metrics_app(bootstrap(metrics_settings(settings), pool))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def span(start: date, days: int) -> dict[str, str]:
    return {"from": start.isoformat(), "to": (start + timedelta(days=days - 1)).isoformat()}


async def test_series_and_totals_are_the_metrics_daily_rows(
    client: httpx.AsyncClient, tenants: dict[str, str], pool: asyncpg.Pool
) -> None:
    cid = tenants["a"]
    res = await client.get(
        f"/api/clients/{cid}/metrics/daily",
        params=span(DAY - timedelta(1), 5),
        headers=bearer(ADMIN),
    )
    assert res.status_code == 200
    body = res.json()
    rows = await pool.fetch("SELECT * FROM metrics_daily WHERE client_id = $1 ORDER BY day", cid)
    assert [s["day"] for s in body["series"]] == [r["day"].isoformat() for r in rows]
    for s, r in zip(body["series"], rows, strict=True):
        for field in ("conversations", "messages_in", "response_count", "response_time_p90_ms"):
            assert s[field] == r[field]
        assert s["response_time_avg_ms"] == round(r["response_time_sum_ms"] / r["response_count"])
        assert s["tools_used"] == r["tools_used"]
        assert s["cost_usd"] == float(r["cost_usd"])
    totals = body["totals"]
    assert totals["days"] == 3
    assert totals["messages_in"] == sum(r["messages_in"] for r in rows) == 2 + 3 + 4
    assert totals["conversations"] == 9
    assert totals["response_count"] == 9
    assert totals["cost_usd"] == pytest.approx(float(sum(r["cost_usd"] for r in rows)))
    assert body["tools_used"] == {"cep": 9}
    assert body["tool_errors"] == {"cep": 4}
    assert body["failed_sends"] == {"131047": 3}
    assert body["usage"] == {"gpt-4o-mini|in": 4500, "gpt-4o-mini|out": 720}
    # p90 over the range, from the merged histograms: the 9 latencies, nearest rank 9
    latencies = sorted(1500 + 250 * n + 1000 * o for o in range(3) for n in range(o + 2))
    assert body["response_time_p90_ms"] == latencies[8] - latencies[8] % 10


async def test_tenant_key_reads_only_its_own_tenant(
    client: httpx.AsyncClient, tenants: dict[str, str]
) -> None:
    params = span(DAY, 3)
    own = await client.get(
        f"/api/clients/{tenants['b']}/metrics/daily",
        params=params,
        headers=bearer(tenants["key_b"]),
    )
    assert own.status_code == 200
    assert own.json()["totals"]["messages_in"] == 3
    other = await client.get(
        f"/api/clients/{tenants['a']}/metrics/daily",
        params=params,
        headers=bearer(tenants["key_b"]),
    )
    assert other.status_code == 404
    for path in ("/api/metrics/daily", "/api/metrics/tenants"):
        assert (await client.get(path, headers=bearer(tenants["key_b"]))).status_code == 403
    who = (await client.get("/api/whoami", headers=bearer(tenants["key_b"]))).json()
    assert who == {"role": "tenant", "client_id": tenants["b"], "name": who["name"]}


async def test_missing_or_unknown_token_is_refused(
    client: httpx.AsyncClient, tenants: dict[str, str]
) -> None:
    path = f"/api/clients/{tenants['a']}/metrics/daily"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer("nope"))).status_code == 401
    basic = {"Authorization": f"Basic {ADMIN}"}
    assert (await client.get(path, headers=basic)).status_code == 401


async def test_without_admin_token_operator_access_is_refused(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, str]
) -> None:
    app = metrics_app(bootstrap(metrics_settings(settings, admin_token=None), pool))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as c:
        for token in (ADMIN, "", "None"):
            res = await c.get("/api/metrics/daily", headers=bearer(token))
            assert res.status_code == 401
        res = await c.get(
            f"/api/clients/{tenants['a']}/metrics/daily",
            headers=bearer(tenants["key_a"]),
            params=span(DAY, 3),
        )
        assert res.status_code == 200


async def test_operator_view_lists_each_tenants_totals(
    client: httpx.AsyncClient, tenants: dict[str, str], pool: asyncpg.Pool
) -> None:
    params = span(DAY, 3)
    body = (await client.get("/api/metrics/daily", params=params, headers=bearer(ADMIN))).json()
    by_id = {t["client_id"]: t for t in body["tenants"]}
    assert by_id[tenants["a"]]["totals"]["messages_in"] == 9
    assert by_id[tenants["b"]]["totals"]["messages_in"] == 3
    expected = await pool.fetchval(
        "SELECT sum(messages_in) FROM metrics_daily WHERE day BETWEEN $1 AND $2",
        DAY,
        DAY + timedelta(days=2),
    )
    assert body["totals"]["messages_in"] == expected
    assert sum(s["messages_in"] for s in body["series"]) == expected
    names = (await client.get("/api/metrics/tenants", headers=bearer(ADMIN))).json()
    assert {tenants["a"], tenants["b"]} <= {t["client_id"] for t in names}


async def test_the_tenant_read_outside_fastapi_answers_like_the_rest_of_the_app(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, str]
) -> None:
    path = f"/api/clients/{tenants['a']}/metrics/daily"
    # its own pool, closed: the read fails inside the fast path and must still be answered
    broken = await create_pool(settings, min_size=1, max_size=1)
    app = metrics_app(bootstrap(metrics_settings(settings), broken))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as c:
        assert (await c.head(path, headers=bearer(ADMIN))).status_code == 200  # via FastAPI
        assert (await c.post(path, headers=bearer(ADMIN))).status_code == 405
        await broken.close()
        res = await c.get(path, headers=bearer(ADMIN))
    assert res.status_code == 500
    assert res.json() == {"detail": "Internal Server Error"}


async def test_bad_ranges_are_rejected(client: httpx.AsyncClient, tenants: dict[str, str]) -> None:
    path = f"/api/clients/{tenants['a']}/metrics/daily"
    backwards = {"from": DAY.isoformat(), "to": (DAY - timedelta(days=1)).isoformat()}
    assert (await client.get(path, params=backwards, headers=bearer(ADMIN))).status_code == 422
    too_long = span(DAY, 401)
    assert (await client.get(path, params=too_long, headers=bearer(ADMIN))).status_code == 422
    garbage = {"from": "yesterday"}
    assert (await client.get(path, params=garbage, headers=bearer(ADMIN))).status_code == 422
    res = await client.get("/api/clients/not-a-uuid/metrics/daily", headers=bearer(ADMIN))
    assert res.status_code == 422


async def test_dashboard_page_and_vendored_chart_library_are_served(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "/dashboard/assets/chart.umd.min.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    lib = await client.get("/dashboard/assets/chart.umd.min.js")
    assert lib.status_code == 200
    assert "Chart.js v4" in lib.text[:200]
    assert (await client.get("/dashboard/assets/../settings.py")).status_code == 404
    assert (await client.get("/dashboard/assets/secret.txt")).status_code == 404
    assert (await client.get("/metrics")).status_code == 200  # Prometheus stays there


def _half_up(total: int, n: int) -> int | None:
    return int(Decimal(total) / n + Decimal("0.5")) if n else None


def _reference(rows: list[asyncpg.Record], cid: str, start: date, end: date) -> dict[str, Any]:
    """The report computed the plain way, day by day, from the stored rows."""
    days = [r for r in rows if start <= r["day"] <= end]
    maps: dict[str, dict[str, Any]] = {m: {} for m in (*report.MAPS, "response_time_hist")}
    series = []
    for r in days:
        day = {f: r[f] for f in (*report.COUNTS, "response_time_p90_ms", *report.MAPS)}
        day["day"] = r["day"].isoformat()
        day["response_time_avg_ms"] = _half_up(r["response_time_sum_ms"], r["response_count"])
        day["resolution_time_avg_ms"] = _half_up(r["resolution_time_sum_ms"], r["resolution_count"])
        day["cost_usd"] = float(r["cost_usd"])
        day["quality_cost_brl"] = float(r["quality_cost_brl"])
        series.append(day)
        for name, merged in maps.items():
            for key, n in r[name].items():
                merged[key] = merged.get(key, 0) + n
    totals: dict[str, Any] = {f: sum(r[f] for r in days) for f in report.COUNTS}
    totals["days"] = len(days)
    totals["response_time_avg_ms"] = _half_up(
        sum(r["response_time_sum_ms"] for r in days), totals["response_count"]
    )
    totals["resolution_time_avg_ms"] = _half_up(
        sum(r["resolution_time_sum_ms"] for r in days), totals["resolution_count"]
    )
    totals["cost_usd"] = float(sum(r["cost_usd"] for r in days)) if days else 0
    totals["quality_cost_brl"] = round(float(sum(r["quality_cost_brl"] for r in days)), 6)
    hist = maps.pop("response_time_hist")
    latencies = sorted(int(b) for b, n in hist.items() for _ in range(n))
    p90 = latencies[math.ceil(len(latencies) * 0.9) - 1] if latencies else None
    return {
        "client_id": cid,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "series": series,
        "totals": totals,
        "response_time_p90_ms": p90,
        **maps,
    }


async def test_report_equals_the_day_by_day_merge_of_the_stored_rows(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Random stored days (gaps, empty maps, no responses) read over random ranges."""
    rng = random.Random(3)
    key = f"key-r-{uuid.uuid4().hex}"
    cid = await new_tenant(pool, key)
    first = DAY - timedelta(days=80)
    for offset in rng.sample(range(90), 60):
        responses = rng.choice([0, 0, 1, 5, 40])
        hist = {str(rng.choice([120, 950, 1000, 1230, 2010, 15300])): 1 for _ in range(responses)}
        usage = {"gpt-4o-mini|in": rng.randint(0, 9000), "whisper-1|audio_s": rng.choice([0, 2.5])}
        await pool.execute(
            "INSERT INTO metrics_daily (client_id, day, conversations, messages_in,"
            " response_count, response_time_sum_ms, response_time_p90_ms, resolution_count,"
            " resolution_time_sum_ms, opt_outs, cost_usd, tools_used, tool_errors, failed_sends,"
            " usage, response_time_hist)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            cid,
            first + timedelta(days=offset),
            rng.randint(0, 9),
            rng.randint(0, 30),
            sum(hist.values()),
            rng.randint(0, 10**7) if hist else 0,
            max(map(int, hist)) if hist else None,
            (resolutions := rng.choice([0, 1, 3])),
            rng.randint(1, 10**8) * resolutions,
            rng.randint(0, 2),
            Decimal(rng.randint(0, 10**7)) / 10**6,
            {
                t: rng.randint(1, 4)
                for t in rng.sample(["cep", "crm", "calendar"], rng.randint(0, 3))
            },
            {"crm": 1} if rng.random() < 0.2 else {},
            {"131047": rng.randint(1, 3)} if rng.random() < 0.1 else {},
            usage,
            hist,
        )
    rows = await pool.fetch("SELECT * FROM metrics_daily WHERE client_id = $1 ORDER BY day", cid)
    ranges = [
        (first + timedelta(days=a), first + timedelta(days=a + n))
        for a, n in ((0, 89), (5, 6), (30, 29), (88, 10))
    ]
    ranges += [(first - timedelta(days=20), first - timedelta(days=1))]  # no stored day
    for start, end in ranges:
        res = await client.get(
            f"/api/clients/{cid}/metrics/daily",
            params={"from": start.isoformat(), "to": end.isoformat()},
            headers=bearer(key),
        )
        assert res.status_code == 200
        assert res.headers["cache-control"] == "no-store"
        assert res.json() == _reference(rows, cid, start, end), (start, end)


def test_days_out_of_order_are_put_back_in_order() -> None:
    """`build` does not rely on the planner feeding the aggregates in day order."""
    days = [date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 2)]
    counts = [[n + i for i in range(3)] for n in range(len(report.COUNTS))]
    row = (
        days,
        *counts,
        [30, 10, 20],  # response_time_p90_ms
        [3, 1, 2],  # response_time_avg_ms
        [None, None, None],  # resolution_time_avg_ms
        [0.3, 0.1, 0.2],  # cost_usd
        [0.03, 0.01, 0.02],  # quality_cost_brl
        '[{"cep": 3}, {"cep": 1}, {}]',
        "[{}, {}, {}]",
        "[{}, {}, {}]",
        "[{}, {}, {}]",
        '[{"stale": 1}, {}, {"stale": 2}]',  # silent_reasons
        "[{}, {}, {}]",
        '[{"30": 1}, {"10": 1}, {"20": 8}]',
        6,
        0,
        0.6,
    )
    body = orjson.loads(report.build("c", days[1], days[0], row))  # type: ignore[arg-type]
    assert [d["day"] for d in body["series"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert [d["response_time_p90_ms"] for d in body["series"]] == [10, 20, 30]
    assert [d["tools_used"] for d in body["series"]] == [{"cep": 1}, {}, {"cep": 3}]
    assert body["tools_used"] == {"cep": 4}
    assert body["response_time_p90_ms"] == 20
    assert body["silent_reasons"] == {"stale": 3}
    assert body["totals"]["quality_cost_brl"] == 0.06
    assert body["totals"]["days"] == 3
    assert body["totals"]["conversations"] == 0 + 1 + 2
