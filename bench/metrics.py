"""Metrics: aggregation throughput and dashboard read latency/throughput.

Creates a fresh temporary database, COPYs N events over T tenants and D days into
`conversation_events`, then times: the catch-up rollup of everything, the incremental
rollup of the last 5 minutes' worth and of a full day's worth, a one-day recompute
(checked equal to the incremental rows), dashboard reads server-side (query only), and
through HTTP against `python -m metrics` as a process: unloaded p50/p99, and throughput
under load next to a bare FastAPI + asyncpg endpoint reading the same rows in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

# this file is named like the service package: keep its folder off the import path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from metrics.aggregate import aggregate_increment, recompute  # noqa: E402
from metrics.report import tenant_daily  # noqa: E402
from metrics.settings import MetricsSettings  # noqa: E402
from wacommon.infra.db import create_pool  # noqa: E402
from wacommon.migrations import apply_migrations, ensure_database  # noqa: E402
from wacommon.web.api_types import TenantPath  # noqa: E402

ADMIN = "bench-admin-token"
ZONES = ["America/Sao_Paulo", "UTC", "America/Manaus", "Europe/Lisbon", "Asia/Tokyo"]
COLUMNS = ["client_id", "conversation_id", "event_type", "data", "created_at"]
BARE_SQL = (
    "SELECT day, conversations, messages_in, messages_out_bot, messages_out_human,"
    " resolved_by_ai, resolved_by_human, human_takeovers, followups_sent, followups_converted,"
    " response_count, response_time_sum_ms, response_time_p90_ms, resolution_count,"
    " resolution_time_sum_ms, tools_used, tool_errors, failed_sends, cost_usd"
    " FROM metrics_daily WHERE client_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day"
)


def _base_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    return url.rsplit("/", 1)[0]


def _templates(rng: random.Random) -> list[str]:
    """'event_type<TAB>data' strings in realistic proportions (weights = repetitions)."""
    out: list[str] = []

    def add(kind: str, weight: int, datas: list[dict[str, Any]]) -> None:
        for i in range(weight * 10):
            out.append(f"{kind}\t{json.dumps(datas[i % len(datas)], separators=(',', ':'))}")

    add("msg_received", 30, [{"provider": "meta", "kind": "text", "role": "customer"}])
    add("msg_sent", 22, [{"provider": "meta", "kind": "text", "role": "bot"}])
    add("msg_sent", 4, [{"provider": "meta", "kind": "text", "role": "human"}])
    add(
        "ai_responded",
        20,
        [
            {
                "model": rng.choice(["gpt-4o-mini", "gemini-2.5-flash"]),
                "tokens_in": rng.randint(300, 3000),
                "tokens_out": rng.randint(20, 400),
                "latency_ms": int(rng.lognormvariate(7.5, 0.6)),
                "bubbles": 1,
            }
            for _ in range(400)
        ],
    )
    add(
        "tool_used",
        7,
        [
            {"tool": t, "ok": ok}
            for t in ("cep", "calendar", "crm", "transfer")
            for ok in (True, True, True, False)
        ],
    )
    add(
        "resolved",
        4,
        [
            {"by": b, "cause": "done", "duration_ms": rng.randint(60_000, 9_000_000)}
            for b in ("ai", "ai", "human")
            for _ in range(20)
        ],
    )
    add("human_takeover", 2, [{"cause": "tool"}])
    add("followup_sent", 2, [{"stage": 1}, {"stage": 2}])
    add("followup_converted", 1, [{"stage": 1}])
    add(
        "send_failed",
        1,
        [
            {"provider": "meta", "code": c, "retryable": False}
            for c in ("131047", "130429", "131026")
        ],
    )
    add(
        "media_processed",
        2,
        [
            {"kind": "audio", "seconds": rng.randint(3, 120), "model": "whisper-1", "ok": True}
            for _ in range(20)
        ]
        + [{"kind": "image", "images": 1, "model": "gemini-2.5-flash", "ok": True}],
    )
    add(
        "llm_usage",
        1,
        [{"model": "gemini-2.5-flash", "tokens_in": 800, "tokens_out": 60, "purpose": "followup"}],
    )
    add("reply_dropped", 1, [{"why": "superseded"}])
    return out


class Generator:
    """Builds COPY text chunks fast: per-column random.choices joined at C speed."""

    def __init__(self, tenants: list[str], seed: int, convs_per_tenant: int = 50) -> None:
        self.rng = random.Random(seed)
        self.tenants = tenants
        self.templates = _templates(self.rng)
        # each tenant talks in a pool of conversations, so a day has several messages per one
        self.convs = [
            [str(uuid.UUID(int=self.rng.getrandbits(128))) for _ in range(convs_per_tenant)]
            for _ in tenants
        ]
        self.tod = [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]

    def chunk(self, n: int, start: datetime, end: datetime) -> bytes:
        """n events with created_at uniform in [start, end)."""
        rng = self.rng
        span = int((end - start).total_seconds())
        t0 = int(start.timestamp())
        secs = [t0 + s for s in rng.choices(range(max(span, 1)), k=n)]
        d0 = t0 // 86400
        names = [
            time.strftime("%Y-%m-%d", time.gmtime((d0 + i) * 86400))
            for i in range(span // 86400 + 2)
        ]
        tod = self.tod
        stamps = [names[s // 86400 - d0] + tod[s % 86400] for s in secs]
        who = rng.choices(range(len(self.tenants)), k=n)
        # about 7 conversations per tenant and day, a few messages each
        pick = rng.choices(range(7), k=n)
        convs = self.convs
        pool = len(convs[0])
        rows = zip(
            [self.tenants[t] for t in who],
            [
                convs[t][(s // 86400 * 7 + k) % pool]
                for t, k, s in zip(who, pick, secs, strict=True)
            ],
            rng.choices(self.templates, k=n),
            stamps,
            strict=True,
        )
        return ("\n".join(map("\t".join, rows)) + "\n").encode()


async def copy_events(
    dsn: str, gen: Generator, n: int, start: datetime, end: datetime, chunk: int = 250_000
) -> float:
    """COPY n events in chunks (one transaction each) over two connections; seconds taken."""
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    t0 = time.perf_counter()
    pending: list[asyncio.Task[str]] = []
    done = 0
    i = 0
    while done < n:
        size = min(chunk, n - done)
        data = gen.chunk(size, start, end)
        conn = conns[i % 2]
        if len(pending) >= 2:
            await pending.pop(0)
        pending.append(
            asyncio.create_task(
                conn.copy_to_table(
                    "conversation_events", source=_iter(data), columns=COLUMNS, format="text"
                )
            )
        )
        done += size
        i += 1
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return elapsed


async def _iter(data: bytes) -> Any:
    yield data


async def drain(pool: asyncpg.Pool, prices: dict[str, Any]) -> tuple[int, float]:
    """Run increments until the watermark passes every committed write: (events, seconds)."""
    target = int(await pool.fetchval("SELECT pg_current_xact_id()::text"))
    events, t0 = 0, time.perf_counter()
    while True:
        result = await aggregate_increment(pool, prices)
        events += result.events if result else 0
        hi = int(await pool.fetchval("SELECT xact_hi::text FROM metrics_watermark"))
        if hi >= target:
            return events, time.perf_counter() - t0
        await asyncio.sleep(0.01)


async def timed_grouping(pool: asyncpg.Pool, settings: str, select_sql: str) -> tuple[str, float]:
    """One GROUP BY of the events into a rolled-back temp table; its rate as a line, and as
    events per second."""
    async with pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute(settings)
            t0 = time.perf_counter()
            status = await conn.execute(f"CREATE TEMP TABLE bench_floor AS {select_sql}")
            secs = time.perf_counter() - t0
            events = int(await conn.fetchval("SELECT sum(n) FROM bench_floor"))
        finally:
            await tr.rollback()
    rate = events / secs
    return f"{events:,} events in {secs:.2f} s = {rate:,.0f} events/s ({status})", rate


async def reference_rollup(pool: asyncpg.Pool) -> tuple[str, float]:
    """The floor to compare with: one GROUP BY (tenant, local day, type) into a temp table."""
    return await timed_grouping(
        pool,
        "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off",
        "SELECT e.client_id, (e.created_at AT TIME ZONE c.timezone)::date AS day,"
        " e.event_type, count(*) AS n FROM conversation_events e"
        " JOIN clients c ON c.id = e.client_id GROUP BY 1, 2, 3",
    )


async def keyed_rollup(pool: asyncpg.Pool) -> tuple[str, float]:
    """A second floor: one GROUP BY (tenant, local day, type, the key each type is counted by).

    Distinct conversations, the latency distribution and the per-tool counts all need one
    hash entry per (tenant, day, key); this is that grouping alone, with no token sums,
    buckets, percentiles, maps or upsert after it.
    """
    return await timed_grouping(
        pool,
        "SET LOCAL work_mem = '512MB'; SET LOCAL hash_mem_multiplier = 4;"
        " SET LOCAL jit = off; SET LOCAL parallel_setup_cost = 100;"
        " SET LOCAL parallel_tuple_cost = 0.01",
        "SELECT e.client_id, (e.created_at AT TIME ZONE c.timezone)::date AS day,"
        " e.event_type, CASE e.event_type"
        " WHEN 'msg_received' THEN e.conversation_id::text"
        " WHEN 'ai_responded' THEN e.data->>'latency_ms'"
        " WHEN 'tool_used' THEN e.data->>'tool' END AS k, count(*) AS n"
        " FROM conversation_events e JOIN clients c ON c.id = e.client_id"
        " GROUP BY 1, 2, 3, 4",
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def requests(n: int, tenants: list[str], days: list[date], seed: int) -> list[tuple[int, str]]:
    """(tenant index, query string) for n random tenant/range reads (7, 30 or 90 days)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.choice([7, 30, 90])
        first = rng.randrange(max(1, len(days) - length + 1))
        last = min(first + length - 1, len(days) - 1)
        out.append((rng.randrange(len(tenants)), f"from={days[first]}&to={days[last]}"))
    return out


def http_latencies(port: int, paths: list[tuple[str, dict[str, str]]]) -> list[float]:
    """Sequential keep-alive GETs; milliseconds each."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for path, headers in paths:
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        res.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert res.status == 200, (path, res.status)
    conn.close()
    return out


async def load(port: int, paths: list[tuple[str, dict[str, str]]], conc: int, secs: float) -> float:
    """Requests/s from `conc` keep-alive connections for `secs` seconds (raw asyncio streams)."""
    deadline = time.perf_counter() + secs
    count = 0

    async def worker(k: int) -> None:
        nonlocal count
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < deadline:
            path, headers = paths[i % len(paths)]
            i += conc
            head = "".join(f"{a}: {b}\r\n" for a, b in headers.items())
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
            raw = await reader.readuntil(b"\r\n\r\n")
            length = int(raw.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            assert raw.startswith(b"HTTP/1.1 200"), raw[:40]
            count += 1
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conc)))
    return count / (time.perf_counter() - t0)


def serve_bare(port: int, dsn: str) -> None:
    """The baseline: FastAPI + asyncpg returning the same metrics_daily rows, nothing else."""
    import contextlib

    import orjson
    import uvicorn
    from fastapi import FastAPI, Query, Response

    state: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        state["pool"] = await create_pool(MetricsSettings(_env_file=None), dsn=dsn)
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/bare/{client_id}")
    async def bare(
        tenant_id: TenantPath, start: date = Query(alias="from"), end: date = Query(alias="to")
    ) -> Response:
        rows = await state["pool"].fetch(BARE_SQL, tenant_id, start, end)
        return Response(
            orjson.dumps([dict(r) for r in rows], default=float), media_type="application/json"
        )

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def time_aggregation(
    pool: asyncpg.Pool,
    prices: dict[str, Any],
    gen: Generator,
    dsn: str,
    now: datetime,
    per_day: int,
    per_5min: int,
    catchups: int = 1,
) -> None:
    """Catch-up (`catchups` times, each next to the floor), incremental (5 minutes' and a day's worth) and one-day recompute timings."""
    ref, _ = await reference_rollup(pool)
    print(f"reference, count-only rollup (tenant, local day, type) of the same events: {ref}")
    keyed, floor = await keyed_rollup(pool)
    print(f"reference, keyed grouping only (tenant, local day, type, key): {keyed}")
    events, secs = await drain(pool, prices)
    print(
        f"aggregation catch-up: {events:,} events in {secs:.2f} s = {events / secs:,.0f} events/s"
        f" = {events / secs / floor:.2f} of the keyed-grouping floor measured just before"
    )
    shares = [events / secs / floor]
    for i in range(1, catchups):
        # the same catch-up again from an empty rollup, right after the floor again: on a
        # shared machine the load moves between runs, the median of the pairs moves less
        await pool.execute(
            "DELETE FROM metrics_daily; DELETE FROM metrics_daily_conversations;"
            " UPDATE metrics_watermark SET xact_hi = '0'"
        )
        _, floor = await keyed_rollup(pool)
        events, secs = await drain(pool, prices)
        shares.append(events / secs / floor)
        print(
            f"catch-up {i + 1}: {events / secs:,.0f} events/s, floor {floor:,.0f} events/s,"
            f" share {shares[-1]:.2f}"
        )
    if catchups > 1:
        print(
            f"catch-up share of the keyed floor, median of {catchups}: {statistics.median(shares):.2f}"
        )

    # the first run after the catch-up also prepares statements on a new pool connection:
    # several runs, as the service does every 5 minutes, and the median of them
    runs = []
    for _ in range(5):
        await copy_events(dsn, gen, per_5min, now - timedelta(minutes=5), now)
        runs.append(await drain(pool, prices))
    events, secs = sorted(runs, key=lambda r: r[1])[len(runs) // 2]
    print(
        f"aggregation incremental, last 5 minutes' worth (median of {len(runs)} runs):"
        f" {events:,} events in {secs * 1000:.1f} ms = {events / secs:,.0f} events/s"
        f" (first run {runs[0][1] * 1000:.1f} ms)"
    )

    await copy_events(dsn, gen, per_day, now - timedelta(days=1), now)
    events, secs = await drain(pool, prices)
    print(
        f"aggregation incremental, a full day's worth: {events:,} events in "
        f"{secs * 1000:.1f} ms = {events / secs:,.0f} events/s"
    )

    day = (now - timedelta(days=10)).date()
    before = await pool.fetch("SELECT * FROM metrics_daily WHERE day = $1 ORDER BY client_id", day)
    t0 = time.perf_counter()
    result = await recompute(pool, prices, start=day, end=day)
    secs = time.perf_counter() - t0
    after = await pool.fetch("SELECT * FROM metrics_daily WHERE day = $1 ORDER BY client_id", day)
    same = [_strip(r) for r in before] == [_strip(r) for r in after]
    print(
        f"recompute of one day ({day}, all tenants): {result.events:,} events in "
        f"{secs * 1000:.0f} ms = {result.events / secs:,.0f} events/s;"
        f" equals incremental: {same}"
    )
    await pool.execute("VACUUM ANALYZE metrics_daily")


async def run(args: argparse.Namespace) -> None:
    name = f"wa_bench_metrics_{uuid.uuid4().hex[:8]}"
    dsn = f"{_base_url()}/{name}"
    settings = MetricsSettings(_env_file=None, database_url=dsn, admin_token=ADMIN)
    prices = settings.price_map()
    await ensure_database(dsn)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await apply_migrations(dsn)
        pool = await create_pool(settings, min_size=2, max_size=10)
        months = args.days // 28 + 2
        await pool.execute("SELECT ensure_event_partitions($1, 1)", months)
        tenants = [
            str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(args.tenants)
        ]
        keys = [f"bench-key-{i}" for i in range(args.tenants)]
        await pool.executemany(
            "INSERT INTO clients (id, name, timezone, api_key_hash) VALUES ($1, $2, $3, $4)",
            [
                (
                    t,
                    f"tenant {i}",
                    ZONES[i % len(ZONES)],
                    hashlib.sha256(keys[i].encode()).hexdigest(),
                )
                for i, t in enumerate(tenants)
            ],
        )
        gen = Generator(tenants, seed=7)
        now = datetime.now(UTC).replace(microsecond=0)
        history_end = now - timedelta(days=1)
        history_start = now - timedelta(days=args.days)
        per_day = args.events // args.days
        per_5min = max(1, per_day // 288)
        history = args.events - per_day
        print(f"database {name}: {args.tenants} tenants, {args.days} days")

        secs = await copy_events(dsn, gen, history, history_start, history_end)
        print(f"COPY {history:,} events: {secs:.1f} s ({history / secs:,.0f}/s)")
        # as autovacuum leaves a log that is not brand new: hint bits set, visibility map
        # written; otherwise whichever statement scans the fresh rows first pays for that
        t0 = time.perf_counter()
        await pool.execute("VACUUM ANALYZE conversation_events", timeout=3600)
        print(f"VACUUM ANALYZE of the event log: {time.perf_counter() - t0:.1f} s")

        if args.only_read:
            # the reads need metrics_daily filled, not the aggregation timings
            await drain(pool, prices)
            await pool.execute("VACUUM ANALYZE metrics_daily")
        else:
            await time_aggregation(pool, prices, gen, dsn, now, per_day, per_5min, args.catchups)
        if args.only_aggregation:
            await pool.close()
            return

        days = [(now - timedelta(days=args.days - 1 - i)).date() for i in range(args.days)]
        reqs = requests(args.requests, tenants, days, seed=11)
        lat = []
        for ti, q in reqs:
            start_s, end_s = (p.split("=")[1] for p in q.split("&"))
            t0 = time.perf_counter()
            await tenant_daily(
                pool, tenants[ti], date.fromisoformat(start_s), date.fromisoformat(end_s)
            )
            lat.append((time.perf_counter() - t0) * 1000)
        print(
            f"dashboard read, server-side query ({len(lat)} random tenant/range reads): "
            f"p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 99):.2f} ms"
        )
        await pool.close()

        port, bare_port = _free_port(), _free_port()
        env = {
            "DATABASE_URL": dsn,
            "HTTP_PORT": str(port),
            "ADMIN_TOKEN": ADMIN,
            "WA_ENV": "test",
            "AGGREGATION_INTERVAL_S": "3600",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        procs.append(_start([sys.executable, "-m", "metrics"], env, port))
        procs.append(
            _start(
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
                {"DATABASE_URL": dsn},
                bare_port,
            )
        )
        ours = [
            (
                f"/api/clients/{tenants[ti]}/metrics/daily?{q}",
                {"Authorization": f"Bearer {keys[ti]}"},
            )
            for ti, q in reqs
        ]
        bare: list[tuple[str, dict[str, str]]] = [
            (f"/bare/{tenants[ti]}?{q}", {}) for ti, q in reqs
        ]
        http_latencies(
            port,
            [
                (f"/api/clients/{t}/metrics/daily", {"Authorization": f"Bearer {k}"})
                for t, k in zip(tenants, keys, strict=True)
            ],
        )  # warm key cache
        http_latencies(bare_port, bare[:200])
        for label, p, paths in (("metrics API", port, ours), ("bare endpoint", bare_port, bare)):
            lat = http_latencies(p, paths)
            print(
                f"dashboard read through HTTP, unloaded, {label}: p50 {statistics.median(lat):.2f}"
                f" ms, p99 {pct(lat, 99):.2f} ms"
            )
        rates: dict[str, list[float]] = {"ours": [], "bare": []}
        for _ in range(args.rounds):
            rates["ours"].append(await load(port, ours, args.concurrency, args.seconds))
            rates["bare"].append(await load(bare_port, bare, args.concurrency, args.seconds))
        ours_rps, bare_rps = statistics.median(rates["ours"]), statistics.median(rates["bare"])
        print(
            f"under load ({args.concurrency} connections, {args.rounds}x{args.seconds:.0f} s each,"
            f" median): metrics API {ours_rps:,.0f} req/s, bare {bare_rps:,.0f} req/s,"
            f" ratio {ours_rps / bare_rps:.2f}"
        )
        print(f"metrics service RSS after load: {_rss_mb(procs[0].pid):.0f} MB")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        if not args.keep:
            conn = await asyncpg.connect(f"{_base_url()}/postgres")
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


def _strip(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "updated_at"}


def main() -> None:
    """Parse arguments and run the benchmark (or the bare baseline server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=3000, help="random reads per latency run")
    parser.add_argument("--concurrency", type=int, default=32, help="connections under load")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one load round")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per endpoint")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument(
        "--only-read",
        action="store_true",
        help="skip the aggregation timings (still fills metrics_daily) and time the reads only",
    )
    parser.add_argument(
        "--catchups",
        type=int,
        default=1,
        help="catch-ups to time, each right after the keyed floor (the median share is printed)",
    )
    parser.add_argument(
        "--only-aggregation",
        action="store_true",
        help="time the aggregation (next to its floors) and skip the reads",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, os.environ["DATABASE_URL"])
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
