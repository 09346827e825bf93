"""Console inbox: list and thread reads through HTTP, and webhook -> live stream latency.

On a fresh database: one tenant with `--conversations` conversations of `--messages`
messages among `--tenants` tenants (the others get `--other-conversations` of
`--other-messages`), loaded with COPY and analyzed. The console runs as a process
(`python -m console`), signed in as an agent of the big tenant. Printed:
- the conversation list (first page; state=human; a name search; page 3 through the
  cursor) and the thread (latest 50 of a random conversation): p50/p99 unloaded, and
  requests/s under load next to a bare FastAPI + asyncpg endpoint running the same SQL
  (no session, no shaping) in the same run, the two taking turns in `--slices` slices
  (load from other work on the machine falls on both), with each server's CPU time per
  request;
- meta-gateway + lancepilot-ingest + console as processes: signed Meta webhooks posted
  at `--rate`/s, each from a new customer, and the time until its `message.created`
  reaches a connected `/api/events` client (p50/p99).

    .venv/bin/python bench/console.py --tenants 1000 --conversations 10000 --messages 50
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.common import (  # noqa: E402
    APP_SECRET,
    BenchEnv,
    bench_env,
    cpu_seconds,
    free_port,
    percentile,
    rss_mb,
)
from bench.e2e import create_tenant, webhook  # noqa: E402

PASSWORD = "bench-password-123"  # noqa: S105
Paths = list[tuple[str, dict[str, str]]]


def conversations_rows(
    tenant: str, n: int, per: int, now: datetime, rng: random.Random
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(active_conversations rows, chat_messages rows) for one tenant."""
    convs: list[tuple[Any, ...]] = []
    msgs: list[tuple[Any, ...]] = []
    tid = uuid.UUID(tenant)
    for i in range(n):
        cid = uuid.uuid4()
        start = now - timedelta(days=rng.uniform(0, 30))
        state = rng.choices(["bot", "human", "closed"], [85, 10, 5])[0]
        phone = f"55{rng.randrange(10**10, 10**11)}"
        last = start
        last_in = start
        for j in range(per):
            at = start + timedelta(minutes=j)
            inbound = j % 2 == 0
            msgs.append(
                (
                    tid,
                    cid,
                    "in" if inbound else "out",
                    "customer" if inbound else "bot",
                    "meta",
                    f"wamid.{cid.hex}.{j}" if inbound else None,
                    "text",
                    f"mensagem {j} da conversa {i} com algum texto de exemplo",
                    "received" if inbound else "read",
                    at,
                    at,
                )
            )
            last = at
            if inbound:
                last_in = at
        convs.append(
            (cid, tid, phone, phone, f"Cliente {i}", "meta", state, last, last_in, "bot", start)
        )
    return convs, msgs


CONV_COLUMNS = [
    "id",
    "client_id",
    "contact_key",
    "contact_phone",
    "contact_name",
    "provider",
    "state",
    "last_message_at",
    "last_customer_message_at",
    "last_role",
    "created_at",
]
MSG_COLUMNS = [
    "client_id",
    "conversation_id",
    "direction",
    "role",
    "provider",
    "provider_message_id",
    "kind",
    "content",
    "status",
    "created_at",
    "updated_at",
]


async def load_data(env: BenchEnv, target: str, args: argparse.Namespace) -> list[str]:
    """COPY the target tenant's and the others' conversations; the target's ids."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(env.database_url)
    try:
        others = [
            str(r["id"])
            for r in await conn.fetch(
                "INSERT INTO clients (name) SELECT 'outro ' || g FROM generate_series(1, $1) g"
                " RETURNING id",
                args.tenants - 1,
            )
        ]
        t0 = time.perf_counter()
        convs, msgs = conversations_rows(target, args.conversations, args.messages, now, rng)
        ids = [str(c[0]) for c in convs]
        total_c, total_m = len(convs), len(msgs)
        await conn.copy_records_to_table(
            "active_conversations", records=convs, columns=CONV_COLUMNS
        )
        await conn.copy_records_to_table("chat_messages", records=msgs, columns=MSG_COLUMNS)
        for k in range(0, len(others), 100):
            convs, msgs = [], []
            for other in others[k : k + 100]:
                c, m = conversations_rows(
                    other, args.other_conversations, args.other_messages, now, rng
                )
                convs += c
                msgs += m
            total_c += len(convs)
            total_m += len(msgs)
            await conn.copy_records_to_table(
                "active_conversations", records=convs, columns=CONV_COLUMNS
            )
            await conn.copy_records_to_table("chat_messages", records=msgs, columns=MSG_COLUMNS)
        await conn.execute("VACUUM ANALYZE active_conversations")
        await conn.execute("VACUUM ANALYZE chat_messages")
        print(
            f"loaded {args.tenants} tenants, {total_c:,} conversations, {total_m:,} messages"
            f" in {time.perf_counter() - t0:.1f} s (target tenant: {args.conversations:,}"
            f" conversations x {args.messages} messages)"
        )
    finally:
        await conn.close()
    return ids


async def agent(env: BenchEnv, tenant: str) -> tuple[str, str]:
    from wacommon.console import passwords
    from wacommon.repositories import users as users_repo

    conn = await asyncpg.connect(env.database_url)
    try:
        user = await users_repo.create_user(
            conn,
            tenant_id=tenant,
            email=f"agente-{uuid.uuid4().hex[:6]}@bench.example",
            name="Agente Bench",
            role="agent",
            password_hash=passwords.hash_password_sync(PASSWORD),
        )
    finally:
        await conn.close()
    return str(user["email"]), str(user["id"])


def latencies(port: int, paths: Paths) -> list[float]:
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


async def load(port: int, paths: Paths, conc: int, secs: float) -> tuple[int, float]:
    """(requests answered, seconds taken) from `conc` keep-alive connections for `secs` s."""
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
            assert raw.startswith(b"HTTP/1.1 200"), raw[:60]
            lower = raw.lower()
            if b"content-length:" in lower:
                length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            else:  # chunked
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            count += 1
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conc)))
    return count, time.perf_counter() - t0


async def compare(
    sides: list[tuple[int, int, Paths]], conc: int, secs: float, slices: int
) -> list[tuple[float, float]]:
    """(req/s, server CPU ms per request) of each (port, pid, paths), `secs` each, taken in
    `slices` alternating slices (console, bare, bare, console, ...): the other work on a
    shared machine comes and goes, and alternating spreads it over both sides alike."""
    totals = [[0, 0.0, 0.0] for _ in sides]
    for i in range(slices):
        order = list(range(len(sides)))
        if i % 2:
            order.reverse()
        for k in order:
            port, pid, paths = sides[k]
            cpu0 = cpu_seconds(pid)
            count, took = await load(port, paths, conc, secs / slices)
            totals[k][0] += count
            totals[k][1] += took
            totals[k][2] += cpu_seconds(pid) - cpu0
    return [(n / took, cpu * 1000 / max(n, 1)) for n, took, cpu in totals]


def serve_bare(port: int, dsn: str, user_id: str) -> None:
    """The baseline: FastAPI + asyncpg running the console's SQL, rows dumped as they come."""
    import contextlib

    import orjson
    import uvicorn
    from fastapi import FastAPI, Response

    from console.inbox import queries
    from wacommon.infra.db import create_pool
    from wacommon.infra.settings import Settings

    state: dict[str, asyncpg.Pool] = {}
    uid = uuid.UUID(user_id)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        state["pool"] = await create_pool(Settings(_env_file=None), dsn=dsn)
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/bare/list/{tenant}")
    async def bare_list(
        tenant: uuid.UUID, state_: str | None = None, q: str | None = None, page: int = 1
    ) -> Response:
        rows: list[dict[str, Any]] = []
        after = None
        for _ in range(page):
            records = await queries.list_conversations(
                state["pool"], tenant, uid, state=state_, q=q, after=after, limit=50
            )
            rows = [dict(r) for r in records]
            if rows:
                after = (rows[-1]["last_message_at"], rows[-1]["id"])
        return Response(orjson.dumps(rows, default=str), media_type="application/json")

    @app.get("/bare/thread/{tenant}/{cid}")
    async def bare_thread(tenant: uuid.UUID, cid: uuid.UUID) -> Response:
        rows = await queries.thread(state["pool"], tenant, cid, before=None, limit=50)
        dicts = [dict(r) for r in rows] if rows is not None else None
        return Response(orjson.dumps(dicts, default=str), media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:44s} p50 {percentile(values, 50):6.1f} ms   p99 {percentile(values, 99):6.1f} ms"
        f"   max {max(values):6.1f} ms"
    )


async def stream_latency(
    env: BenchEnv,
    console_url: str,
    gateway_url: str,
    cookie: dict[str, str],
    tenant: str,
    rate: float,
    seconds: float,
) -> list[float]:
    """Webhook posted -> its message.created at a connected stream client, in ms."""
    from wacommon.providers.meta.webhook_checks import sign

    arrivals: dict[str, float] = {}
    count = int(rate * seconds)
    prefix = str(uuid.uuid4().int)[:4]
    bodies = []
    for i in range(count):
        customer = f"55{prefix}{i:09d}"
        raw = webhook(customer, f"quero saber o preço do item {i}")
        bodies.append((customer, raw, sign(raw, APP_SECRET)))

    timeout = httpx.Timeout(30.0, read=3600.0)
    async with (
        httpx.AsyncClient(base_url=console_url, timeout=timeout, cookies=cookie) as client,
        client.stream("GET", "/api/events") as resp,
    ):
        assert resp.status_code == 200

        async def read() -> None:
            kind = ""
            async for text in resp.aiter_lines():
                if text.startswith("event: "):
                    kind = text[7:]
                elif text.startswith("data: ") and kind == "message.created":
                    data = json.loads(text[6:])
                    arrivals.setdefault(data["conversation_id"], time.time())

        reader = asyncio.create_task(read())
        posted: dict[str, float] = {}
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=gateway_url, limits=limits, timeout=30) as gw:

            async def one(customer: str, raw: bytes, sig: str) -> None:
                headers = {"content-type": "application/json", "x-hub-signature-256": sig}
                at = time.time()
                r = await gw.post("/meta/webhook", content=raw, headers=headers)
                if r.status_code == 200:
                    posted[customer] = at

            tasks = []
            start = time.monotonic()
            for i, (customer, raw, sig) in enumerate(bodies):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(customer, raw, sig)))
            await asyncio.gather(*tasks)
        deadline = time.monotonic() + 30
        while len(arrivals) < len(posted) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        reader.cancel()
    conn = await asyncpg.connect(env.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, contact_key FROM active_conversations WHERE client_id = $1"
            " AND contact_key = ANY($2::text[])",
            tenant,
            list(posted),
        )
    finally:
        await conn.close()
    out = [
        (arrivals[str(r["id"])] - posted[r["contact_key"]]) * 1000
        for r in rows
        if str(r["id"]) in arrivals
    ]
    if len(out) < len(posted):
        print(
            f"warning: {len(posted) - len(out)} of {len(posted)} messages never reached the stream"
        )
    return out


async def run(args: argparse.Namespace) -> None:
    async with bench_env("console", {"CONSOLE_INSECURE_COOKIES": "1"}) as env:
        gateway = env.service("meta-gateway").start()
        await gateway.wait_http()
        tenant = await create_tenant(gateway.url, "http://127.0.0.1:9", 80)
        ids = await load_data(env, tenant, args)
        email, user_id = await agent(env, tenant)
        console = env.service("console").start()
        ingest = env.service("lancepilot-ingest").start()
        bare_port = free_port()
        bare = env.module(
            "bare", "bench.console", ["--serve-bare", str(bare_port), "--user", user_id], bare_port
        ).start()
        await console.wait_http()
        await ingest.wait_http()
        await bare.wait_http("/docs")
        async with httpx.AsyncClient(base_url=console.url) as c:
            resp = await c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            resp.raise_for_status()
            cookie = dict(c.cookies)
        auth = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookie.items())}
        rng = random.Random(11)
        page3 = None
        async with httpx.AsyncClient(base_url=console.url, headers=auth) as c:
            cursor = None
            for _ in range(2):
                body = (
                    await c.get("/api/conversations", params={"cursor": cursor} if cursor else {})
                ).json()
                cursor = body["next_cursor"]
            page3 = cursor
        lists: dict[str, tuple[str, str]] = {
            "list, first page": ("/api/conversations", f"/bare/list/{tenant}"),
            "list, state=human": (
                "/api/conversations?state=human",
                f"/bare/list/{tenant}?state_=human",
            ),
            "list, search by name": (
                "/api/conversations?q=Cliente%20123",
                f"/bare/list/{tenant}?q=%25Cliente%20123%25",
            ),
            "list, third page (cursor)": (
                "/api/conversations?" + httpx.QueryParams({"cursor": page3 or ""}).__str__(),
                f"/bare/list/{tenant}?page=3",
            ),
        }
        n = args.requests
        print(f"\nunloaded, {n} sequential requests each (console vs bare, same SQL):")
        for name, (path, bare_path) in lists.items():
            console_ms = latencies(console.port, [(path, auth)] * n)
            bare_ms = latencies(bare_port, [(bare_path, {})] * n)
            print(line(f"{name} console", console_ms))
            print(line(f"{name} bare", bare_ms))
        threads = [rng.choice(ids) for _ in range(n)]
        console_ms = latencies(
            console.port, [(f"/api/conversations/{cid}/messages", auth) for cid in threads]
        )
        bare_ms = latencies(bare_port, [(f"/bare/thread/{tenant}/{cid}", {}) for cid in threads])
        print(line("thread (50 latest) console", console_ms))
        print(line("thread (50 latest) bare", bare_ms))

        print(
            f"\nunder load: {args.concurrency} connections, {args.seconds:.0f} s each"
            f" in {args.slices} alternating slices:"
        )
        list_paths = [(lists["list, first page"][0], auth)]
        thread_paths = [(f"/api/conversations/{cid}/messages", auth) for cid in threads]
        for name, mine, theirs in (
            ("list, first page", list_paths, [(lists["list, first page"][1], {})]),
            ("thread", thread_paths, [(f"/bare/thread/{tenant}/{cid}", {}) for cid in threads]),
        ):
            (ours, our_cpu), (base, base_cpu) = await compare(
                [(console.port, console.pid, mine), (bare_port, bare.pid, theirs)],
                args.concurrency,
                args.seconds,
                args.slices,
            )
            print(
                f"{name:20s} console {ours:7.0f} req/s   bare {base:7.0f} req/s"
                f"   ratio {ours / base:.2f}   server CPU per request: console"
                f" {our_cpu:.2f} ms, bare {base_cpu:.2f} ms"
            )

        print(f"\nwebhook -> message.created on a connected stream, {args.rate:.0f} msg/s:")
        ms = await stream_latency(
            env, console.url, gateway.url, cookie, tenant, args.rate, args.stream_seconds
        )
        print(line(f"{len(ms)} messages", ms))
        for proc in (console, ingest, gateway):
            now_mb, peak = rss_mb(proc.pid)
            print(f"{proc.name:20s} RSS {now_mb:6.0f} MiB (peak {peak:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=10_000, help="of the measured tenant")
    parser.add_argument("--messages", type=int, default=50, help="per conversation of it")
    parser.add_argument("--other-conversations", type=int, default=20)
    parser.add_argument("--other-messages", type=int, default=10)
    parser.add_argument("--requests", type=int, default=500, help="sequential reads per figure")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="load time of each side")
    parser.add_argument(
        "--slices", type=int, default=4, help="console and bare alternate this many times"
    )
    parser.add_argument("--rate", type=float, default=20, help="webhooks per second")
    parser.add_argument("--stream-seconds", type=float, default=15)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, os.environ["DATABASE_URL"], args.user)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
