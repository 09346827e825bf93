"""Read API and dashboard routes of the metrics service, over a real database."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from metrics.aggregate import aggregate_increment
from metrics.app import create_app
from metrics.settings import MetricsSettings
from wacommon import event_types as et
from wacommon.events import PgEventLog
from wacommon.settings import Settings

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
    app = create_app(None, pool, metrics_settings(settings))
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
    app = create_app(None, pool, metrics_settings(settings, admin_token=None))
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
