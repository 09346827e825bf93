"""Pipeline latency: signed Meta webhook in -> send call at the fake Graph API.

The whole pipeline runs as processes (meta-gateway, lancepilot-ingest, rag-worker,
sender) against the fake Graph API (its own process), on a fresh database and random
broker/Redis prefixes. One tenant with debounce off and the offline responder (no LLM
key): each webhook is a greeting ("oi") from a distinct customer, which the offline
responder answers at once, so every message gets exactly one reply. Webhooks are posted
open-loop at `--rate` per second (pre-signed, from this process); the latency of a message
is the fake's arrival time of the reply to that customer minus the moment its webhook was
posted (same host clock). The hops are split with the database timestamps: inbound row
stored (gateway + broker + ingest), outbox row written (debounce flush + rag-worker), reply
at the fake (broker + sender + HTTP). Resident memory of every process is printed at the end.

    .venv/bin/python bench/e2e.py --rate 200 --seconds 20

`--baseline COMMIT` measures another commit's services in the same session and prints the
ratio of CPU per message, process by process (issue 17's comparison in one command):

    .venv/bin/python bench/e2e.py --rate 60 --seconds 10 --baseline 382720b [--rounds 2]

The baseline gets a detached git worktree and a venv of its own (cached under
`$BENCH_BASELINE_DIR`, default `<tmp>/wa-bench-baselines/<sha>`, and reused; `bench/compare.py`).
What is compared is the services, nothing else: this script (the load generator, the fake
Graph API, the /proc and pg_stat accounting) is the same code for both runs, so a bench
change made since the baseline cannot move one column and not the other. The baseline's
services run from their checkout with its interpreter, on a database migrated and a broker
topology declared (and deleted afterwards) by the baseline's own code, each with its own
database and broker/Redis prefixes; each commit runs with its own defaults for settings the
other does not have. The load goes only through the public surface both commits share (the
admin API creating the tenant, the signed Meta webhook, the Graph API the replies reach) and
the hop times read `chat_messages`, which both schemas have. The runs alternate
(baseline, current, then current, baseline, ...) and `--rounds` sums them, so a slow drift of
the machine's other load hits both sides; RabbitMQ and Redis are shared servers whose whole
CPU is counted, so other work on the machine shows up in those rows.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.common import (  # noqa: E402
    ADMIN_TOKEN,
    APP_SECRET,
    ROOT,
    BenchEnv,
    Proc,
    cpu_seconds,
    fetch_sends,
    find_pids,
    machine_cpu_seconds,
    percentile,
    queue_depth,
    rss_mb,
)
from bench.compare import (  # noqa: E402
    Figures,
    Target,
    comparison_lines,
    current_target,
    prepare_baseline,
    target_env,
)

PHONE_ID, DISPLAY, TOKEN = "106540352242922", "15550783881", "EAAbenchToken000000000000000001"
CORPUS_TEXT = ROOT / "tests" / "data" / "corpus" / "meta" / "inbound_text.json"
SERVICES = ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")
WARMUP = 20


def webhook(customer: str, text: str) -> bytes:
    """The real corpus text webhook, for our number, from `customer`, with a fresh wamid."""
    body = json.loads(CORPUS_TEXT.read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID}
    value["contacts"] = [{"profile": {"name": "Cliente Bench"}, "wa_id": customer}]
    msg = value["messages"][0]
    msg.update(
        {
            "from": customer,
            "id": f"wamid.bench{uuid.uuid4().hex}",
            "timestamp": str(int(time.time())),
            "text": {"body": text},
        }
    )
    return json.dumps(body).encode()


async def create_tenant(gateway_url: str, graph_url: str, rate_limit: float) -> str:
    """Tenant with debounce off and a Meta number on the fake; its id."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=gateway_url, headers=auth, timeout=10) as http:
        resp = await http.post(
            "/admin/clients",
            json={"name": "Loja Bench", "tools_config": {"debounce": {"quiet_seconds": 0}}},
        )
        resp.raise_for_status()
        tenant: str = resp.json()["id"]
        resp = await http.post(
            f"/admin/clients/{tenant}/providers",
            json={
                "provider_type": "meta",
                "is_default": True,
                "config": {
                    "phone_id": PHONE_ID,
                    "display_phone_number": DISPLAY,
                    "access_token": TOKEN,
                    "waba_id": "waba-bench",
                    "rate_limit_per_s": rate_limit,
                },
            },
        )
        resp.raise_for_status()
        return tenant


def signed_greetings(count: int) -> list[tuple[str, bytes, str]]:
    """(customer, body, signature) for `count` distinct customers saying "oi"."""
    from wacommon.providers.meta.webhook_checks import sign

    prefix = str(uuid.uuid4().int)[:4]
    out = []
    for i in range(count):
        customer = f"55{prefix}{i:09d}"
        raw = webhook(customer, "oi")
        out.append((customer, raw, sign(raw, APP_SECRET)))
    return out


async def post_open_loop(
    gateway_url: str, bodies: list[tuple[str, bytes, str]], rate: float
) -> tuple[dict[str, float], list[int]]:
    """Post at `rate`/s whatever the answers' latency; (customer -> post time, non-200s)."""
    posted: dict[str, float] = {}
    failed: list[int] = []
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(base_url=gateway_url, limits=limits, timeout=60) as http:

        async def one(customer: str, raw: bytes, sig: str) -> None:
            headers = {"content-type": "application/json", "x-hub-signature-256": sig}
            at = time.time()
            try:
                resp = await http.post("/meta/webhook", content=raw, headers=headers)
            except httpx.HTTPError:
                failed.append(0)
                return
            if resp.status_code != 200:
                failed.append(resp.status_code)
            else:
                posted[customer] = at

        tasks = []
        start = time.monotonic()
        for i, (customer, raw, sig) in enumerate(bodies):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(customer, raw, sig)))
        lag = time.monotonic() - start - (len(bodies) - 1) / rate
        await asyncio.gather(*tasks)
    if lag > 0.5:
        print(f"warning: the load generator fell {lag:.1f} s behind schedule")
    return posted, failed


async def hop_times(database_url: str, tenant: str) -> dict[str, tuple[float, float]]:
    """Per customer: (inbound stored, outbox row written) as epoch seconds; none when the
    schema under test has other names (a baseline commit)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT c.contact_key,
                      extract(epoch FROM min(mi.created_at)) AS stored,
                      extract(epoch FROM min(mo.created_at)) AS outboxed
                 FROM active_conversations c
                 JOIN chat_messages mi ON mi.client_id = c.client_id
                      AND mi.conversation_id = c.id AND mi.direction = 'in'
                 JOIN chat_messages mo ON mo.client_id = c.client_id
                      AND mo.conversation_id = c.id AND mo.direction = 'out'
                WHERE c.client_id = $1
                GROUP BY c.contact_key""",
            tenant,
        )
    except asyncpg.PostgresError as exc:
        print(f"hop times unavailable on this schema: {exc}")
        return {}
    finally:
        await conn.close()
    return {r["contact_key"]: (float(r["stored"]), float(r["outboxed"])) for r in rows}


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:34s} p50 {percentile(ms, 50):7.1f} ms  p90 {percentile(ms, 90):7.1f} ms"
        f"  p99 {percentile(ms, 99):7.1f} ms  max {max(ms, default=float('nan')):7.1f} ms"
    )


async def run(args: argparse.Namespace, baseline: Target | None) -> None:
    """One measured run per round; with a baseline, both alternately and the ratios."""
    current = current_target()
    if baseline is None:
        for _ in range(args.rounds):
            await measure(args, current)
        return
    totals: dict[Target, Figures] = {}
    for i in range(args.rounds):
        # ABBA order: a drift of the machine's other load weighs on both sides alike
        for target in (baseline, current) if i % 2 == 0 else (current, baseline):
            print(f"\n=== round {i + 1}/{args.rounds}: {target.label} ===", flush=True)
            figures = await measure(args, target)
            totals[target] = totals[target] + figures if target in totals else figures
    print(f"\n=== {args.rounds} round(s) of {args.rate:.0f}/s for {args.seconds:.0f} s each ===")
    for text in comparison_lines(
        totals[baseline], totals[current], SERVICES, baseline.label, current.label
    ):
        print(text)


async def measure(args: argparse.Namespace, target: Target) -> Figures:
    """The bench against `target`'s services; prints its report, returns its CPU figures."""
    extra = {"LOG_LEVEL": args.log_level}
    profile = args.profile
    if profile and target.root != ROOT:
        profile = os.path.join(profile, "baseline")
    async with target_env("e2e", target, extra) as env:
        graph = env.graph().start()
        env.env["META_GRAPH_URL"] = graph.url
        procs = [env.service(name) for name in SERVICES]
        for p in procs:
            p.start()
        await graph.wait_http("/_sandbox/messages")
        for p in procs:
            await p.wait_http("/readyz")
        tenant = await create_tenant(procs[0].url, graph.url, args.number_rate)
        warm = signed_greetings(WARMUP)
        bodies = signed_greetings(int(args.rate * args.seconds))
        # warm-up at a low rate (connections, caches, prepared statements): not measured
        await post_open_loop(procs[0].url, warm, 20)
        await settle(graph.url, WARMUP, 30)
        watched = {p.name: [p.pid] for p in [*procs, graph]}
        watched["rabbitmq (shared)"] = find_pids("beam.smp")
        watched["redis (shared)"] = find_pids("redis-server")
        backends0 = await db_backends(env.database_url)
        commits0 = await db_commits(env.database_url)
        cpu0 = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in watched.items()}
        machine0, self0 = machine_cpu_seconds(), cpu_seconds(os.getpid())
        spies = start_profiles(profile, procs, args.seconds) if profile else []
        t0 = time.monotonic()
        print(f"posting {len(bodies)} greetings at {args.rate:.0f}/s from distinct customers")
        posted, failed = await post_open_loop(procs[0].url, bodies, args.rate)
        await settle(graph.url, WARMUP + len(posted), args.drain)
        wall = time.monotonic() - t0
        machine1, self1 = machine_cpu_seconds(), cpu_seconds(os.getpid())
        cpu = {
            name: sum(cpu_seconds(pid) for pid in pids) - cpu0[name]
            for name, pids in watched.items()
        }
        cpu["postgres (this DB)"] = sum(
            cpu_seconds(pid) - backends0.get(pid, 0.0)
            for pid in await db_backends(env.database_url)
        )
        await asyncio.sleep(1.0)  # statistics are flushed shortly after each transaction
        commits = await db_commits(env.database_url) - commits0 - 3  # our own probes
        for spy in spies:
            spy.wait()
        accepted = len(posted)
        sends = await fetch_sends(graph.url)
        first: dict[str, float] = {}
        per_customer: dict[str, int] = {}
        for s in sends:
            per_customer[s["to"]] = per_customer.get(s["to"], 0) + 1
            first.setdefault(s["to"], float(s["at"]))
        hops = await hop_times(env.database_url, tenant)
        p50 = report(args, posted, accepted, failed, first, per_customer, hops)
        missing = [c for c in posted if c not in first]
        if missing:
            await explain_missing(env, tenant, missing)
        replies = max(1, sum(1 for c in posted if c in first))
        print(f"CPU from the first post to the last reply ({wall:.1f} s):")
        for name, used in cpu.items():
            print(
                f"  {name:22s} {100 * used / wall:5.1f} % of a core"
                f"  {1000 * used / replies:6.2f} ms per message"
            )
        total = sum(v for k, v in cpu.items() if "shared" not in k)
        print(f"  {'total (not shared)':22s} {1000 * total / replies:6.2f} ms CPU per message")
        busy = machine1[0] - machine0[0]
        cores = (machine1[1] - machine0[1]) / wall
        print(
            f"  {'this load generator':22s} {100 * (self1 - self0) / wall:5.1f} % of a core"
            f"  {1000 * (self1 - self0) / replies:6.2f} ms per message"
        )
        print(
            f"  {'whole machine':22s} {100 * busy / wall:5.1f} % of a core"
            f"  {1000 * busy / replies:6.2f} ms per message ({cores:.0f} cores,"
            f" {100 * busy / (wall * cores):.0f} % busy; the rest of it is the kernel, PostgreSQL's"
            " own processes and anything else running)"
        )
        print(f"PostgreSQL transactions committed per message: {commits / replies:.1f}")
        if spies:
            print("where the busy time goes (py-spy samples by library):")
            print_profiles(profile, procs)
        print("memory at the end (RSS now / peak):")
        for p in [*procs, graph]:
            now, peak = rss_mb(p.pid)
            flag = "" if peak < 150 or p is graph else "  OVER 150 MB"
            print(f"  {p.name:20s} {now:6.1f} MB / {peak:6.1f} MB{flag}")
        return Figures(
            cpu=cpu,
            replies=replies,
            commits=commits,
            wall=wall,
            machine=busy,
            generator=self1 - self0,
            p50_ms=[p50],
        )


async def db_commits(database_url: str) -> int:
    """Committed transactions of this run's database so far (statistics, slightly delayed)."""
    conn = await asyncpg.connect(database_url)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value or 0)
    finally:
        await conn.close()


async def db_backends(database_url: str) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend connected to this run's database."""
    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(database_url)
    try:
        pids = [
            int(r["pid"])
            for r in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        ]
    finally:
        await conn.close()
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_seconds(pid)
        except OSError:
            continue
    return out


def start_profiles(folder: str, procs: list[Proc], seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy (sampling) on every service for the measured window; raw stacks in `folder`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(p.pid),
                "-d",
                str(int(seconds) + 2),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                f"{folder}/{p.name}.txt",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in procs
    ]


LAYERS = (
    ("asyncpg/", "PostgreSQL client (asyncpg)"),
    ("httpx/", "HTTP client (httpx/httpcore)"),
    ("httpcore/", "HTTP client (httpx/httpcore)"),
    ("anyio/", "HTTP client (httpx/httpcore)"),
    ("aiormq/", "broker client (aio-pika)"),
    ("aio_pika/", "broker client (aio-pika)"),
    ("pamqp/", "broker client (aio-pika)"),
    ("redis/", "Redis client"),
    ("structlog/", "logging"),
    ("logging/", "logging"),
    ("pydantic", "pydantic"),
    ("cryptography/", "secrets (Fernet)"),
    ("prometheus_client/", "metrics (prometheus)"),
    ("uvicorn/", "HTTP server (uvicorn/FastAPI)"),
    ("starlette/", "HTTP server (uvicorn/FastAPI)"),
    ("fastapi/", "HTTP server (uvicorn/FastAPI)"),
    ("selectors.py", "idle (waiting for I/O)"),
)


def layer_of(stack: list[str]) -> str:
    """The library a sample is in (leaf first), else the innermost service module."""
    for frame in reversed(stack):
        for marker, name in LAYERS:
            if marker in frame:
                return name
    for frame in reversed(stack):
        path = frame.rpartition("(")[2]
        if (
            "/" in path
            and not path.startswith(("asyncio/", "<frozen", "concurrent/"))
            and not path.split(":")[0].endswith(("/main.py", "/__main__.py"))
        ):
            return "own code: " + path.split(":")[0]
    return "event loop (asyncio)"


def print_profiles(folder: str, procs: list[Proc], top: int = 7) -> None:
    """Where each service's busy samples went, by library (py-spy raw stacks)."""
    for p in procs:
        path = Path(folder) / f"{p.name}.txt"
        if not path.exists():
            continue
        layers: collections.Counter[str] = collections.Counter()
        for raw in path.read_text().splitlines():
            stack, _, n = raw.rpartition(" ")
            layers[layer_of(stack.split(";"))] += int(n)
        idle = layers.pop("idle (waiting for I/O)", 0)
        busy = sum(layers.values()) or 1
        shares = ", ".join(f"{name} {100 * n / busy:.0f} %" for name, n in layers.most_common(top))
        print(f"  {p.name} ({busy} busy samples, {idle} idle): {shares}")


async def settle(graph_url: str, expected: int, timeout: float) -> None:
    """Wait until the fake saw `expected` replies or nothing new for a while."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(await fetch_sends(graph_url))
        if count >= expected:
            return
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > 10:
            return
        await asyncio.sleep(0.5)


def report(
    args: argparse.Namespace,
    posted: dict[str, float],
    accepted: int,
    failed: list[int],
    first: dict[str, float],
    per_customer: dict[str, int],
    hops: dict[str, tuple[float, float]],
) -> float:
    """Prints the counts and latencies; the p50 latency in ms."""
    total: list[float] = []
    ingest: list[float] = []
    rag: list[float] = []
    send: list[float] = []
    for customer, at in posted.items():
        if customer not in first:
            continue
        total.append(first[customer] - at)
        if customer in hops:
            stored, outboxed = hops[customer]
            ingest.append(stored - at)
            rag.append(outboxed - stored)
            send.append(first[customer] - outboxed)
    missing = [c for c in posted if c not in first]
    doubled = sum(1 for c in posted if per_customer.get(c, 0) > 1)
    print(
        f"accepted {accepted} (non-200: {len(failed)} {sorted(set(failed)) or ''}),"
        f" replied {len(total)}, missing {len(missing)}, more than one reply {doubled}"
    )
    replied = [first[c] for c in posted if c in first]
    if replied:
        span = max(replied) - min(posted.values())
        print(f"replies per second, first post to last reply: {len(replied) / span:.1f}")
    print(line("webhook in -> send at fake", total))
    print(line("  webhook -> inbound stored", ingest))
    print(line("  stored -> reply in outbox", rag))
    print(line("  outbox -> send at fake", send))
    p50 = percentile(total, 50) * 1000
    p99 = percentile(total, 99) * 1000
    ok = p50 < 20 and p99 < 100 and not missing
    print(f"targets (p50 < 20 ms, p99 < 100 ms at {args.rate:.0f}/s): {'met' if ok else 'MISSED'}")
    return p50


async def explain_missing(env: BenchEnv, tenant: str, missing: list[str]) -> None:
    """Where the unanswered customers' messages are: rows by status, queues, log warnings."""
    conn = await asyncpg.connect(env.database_url)
    try:
        rows = await conn.fetch(
            """SELECT coalesce(mi.status, 'no inbound row') AS inbound,
                      coalesce(mo.status, 'no reply row') AS reply,
                      coalesce(mo.error_code, '') AS error, count(*) AS n
                 FROM unnest($2::text[]) AS k(contact_key)
                 LEFT JOIN active_conversations c ON c.client_id = $1
                      AND c.contact_key = k.contact_key
                 LEFT JOIN chat_messages mi ON mi.client_id = $1 AND mi.conversation_id = c.id
                      AND mi.direction = 'in'
                 LEFT JOIN chat_messages mo ON mo.client_id = $1 AND mo.conversation_id = c.id
                      AND mo.direction = 'out'
                GROUP BY 1, 2, 3 ORDER BY 4 DESC""",
            tenant,
            missing,
        )
    finally:
        await conn.close()
    print(f"the {len(missing)} unanswered customers (inbound status / reply status / error):")
    for r in rows:
        print(f"  {r['n']:6d}  {r['inbound']} / {r['reply']} / {r['error'] or '-'}")
    if env.root != ROOT:
        return  # the queue names below are this checkout's; a baseline may have others
    from wacommon.broker import topology

    settings = env.settings()
    names = [settings.q(wq.name) for wq in topology.WORK_QUEUES]
    names += [topology.dlq_name(n) for n in list(names)]
    names += [topology.retry_queue_name(settings, d) for d in settings.retry_delays_ms]
    depths = {n: await queue_depth(settings, n, prefixed=True) for n in names}
    print(
        "  messages waiting: " + (", ".join(f"{n} {d}" for n, d in depths.items() if d) or "none")
    )
    for proc in env.procs:
        warnings: collections.Counter[str] = collections.Counter()
        with proc.log_path.open(errors="replace") as log:
            for text in log:
                try:
                    entry = json.loads(text)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("warning", "error"):
                    warnings[f"{entry.get('event')}: {str(entry.get('error', ''))[:80]}"] += 1
        if warnings:
            print(f"  {proc.name} warnings/errors: {dict(warnings.most_common(5))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--number-rate",
        type=float,
        default=1000,
        help="the number's send limit (rate_limit_per_s); Meta's default 80/s would cap the run",
    )
    parser.add_argument(
        "--drain", type=float, default=180, help="max seconds to wait for the replies"
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the services")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy every service during the run (raw stacks in DIR)"
    )
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="also run this commit's services (its own worktree and venv) and print the ratios",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs per checkout (alternating with --baseline)"
    )
    args = parser.parse_args()
    # made before the event loop: a first run installs the baseline's venv (a minute or so)
    baseline = prepare_baseline(args.baseline) if args.baseline else None
    asyncio.run(run(args, baseline))


if __name__ == "__main__":
    main()
