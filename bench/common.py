"""Shared bench helpers: an isolated environment (fresh database, random broker and Redis
prefixes), services started as processes, a fake Graph API process, figures, and cleanup.

Import from a bench script after putting the repository root first on `sys.path` and taking
`bench/` off it (its files are named like the service packages):

    from bench.common import BenchEnv, bench_env, percentile

Run the fake Graph API on its own (the benches start it this way):

    .venv/bin/python -m bench.common graph --port 9100 [--rate-check 80 --burst 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / ".run" / "bench-logs"
PG_BASE = os.environ.get("BENCH_PG_BASE", "postgresql://postgres@127.0.0.1:5432")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_SECRET = "bench-app-secret"  # noqa: S105
ADMIN_TOKEN = "bench-admin-token"  # noqa: S105
BENCH_ENCRYPTION_KEY = "YmVuY2gtZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMtISE="


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB, from /proc."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def find_pids(comm: str) -> list[int]:
    """Processes whose command name is `comm` (e.g. beam.smp for RabbitMQ)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


@dataclass
class Proc:
    """A process the bench started; logs go to `.run/bench-logs/<name>-<port>.log`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    # the checkout the process runs from (a baseline's services run from their own worktree)
    cwd: Path = ROOT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}-{self.port}.log"

    def start(self) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def wait_http(self, path: str = "/readyz", timeout: float = 60) -> None:
        """Poll `path` until it answers 200 (the process must stay alive)."""
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log_path}")
                try:
                    if (await client.get(self.url + path, timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout}s; see {self.log_path}")


@dataclass
class BenchEnv:
    """One bench run's isolated names, its environment for child processes and its settings."""

    run_id: str
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    # where the services come from: this checkout by default, or another commit's worktree
    # with its own interpreter (`bench/compare.py`); the bench's own helpers always run here
    root: Path = ROOT
    python: str = sys.executable

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def settings(self, **overrides: Any) -> Any:
        """`wacommon.infra.settings.Settings` for this run (no .env file)."""
        from wacommon.infra.settings import Settings

        values: dict[str, Any] = {
            "database_url": self.env["DATABASE_URL"],
            "amqp_url": self.env["AMQP_URL"],
            "redis_url": self.env["REDIS_URL"],
            "broker_prefix": self.env["BROKER_PREFIX"],
            "redis_prefix": self.env["REDIS_PREFIX"],
            "encryption_key": self.env["ENCRYPTION_KEY"],
            # the run's shard count: its topology is declared and deleted with the same names
            "broker_shards": int(self.env.get("BROKER_SHARDS", "8")),
            **overrides,
        }
        return Settings(_env_file=None, **values)

    def service(self, name: str, extra: dict[str, str] | None = None) -> Proc:
        """A service (`python -m <package>` of `root`) with this run's environment; not
        started yet."""
        port = free_port()
        env = {**self.env, **(extra or {}), "SERVICE_NAME": name, "HTTP_PORT": str(port)}
        argv = [self.python, "-m", name.replace("-", "_")]
        proc = Proc(name, argv, env, port, cwd=self.root)
        self.procs.append(proc)
        return proc

    def module(self, name: str, module: str, args: list[str], port: int | None = None) -> Proc:
        """Any `python -m module args` with this run's environment; not started yet."""
        port = port or free_port()
        argv = [sys.executable, "-m", module, *args]
        proc = Proc(name, argv, {**self.env, "PYTHONPATH": str(ROOT)}, port)
        self.procs.append(proc)
        return proc

    def graph(self, *, rate_check: float = 0, burst: int = 0) -> Proc:
        """The fake Graph API as a process (accepts any bearer token); not started yet."""
        port = free_port()
        args = ["graph", "--port", str(port)]
        if rate_check:
            args += ["--rate-check", str(rate_check), "--burst", str(burst)]
        return self.module("fake-graph", "bench.common", args, port)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def new_env(tag: str, extra: dict[str, str] | None = None) -> BenchEnv:
    """Names for one run: database `wa_bench_<tag>_<id>`, prefixes `b<id>.` / `b<id>:`."""
    run_id = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG_BASE}/wa_bench_{tag}_{run_id}",
        "AMQP_URL": AMQP_URL,
        "REDIS_URL": REDIS_URL,
        "BROKER_PREFIX": f"b{run_id}.",
        "REDIS_PREFIX": f"b{run_id}:",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": "bench-verify-token",
        "ENCRYPTION_KEY": BENCH_ENCRYPTION_KEY,
        # a bench run is a local run: the short fixed ADMIN_TOKEN is tolerated
        "WA_ENV": "test",
        **(extra or {}),
    }
    return BenchEnv(run_id, env)


@asynccontextmanager
async def bench_env(tag: str, extra: dict[str, str] | None = None) -> AsyncIterator[BenchEnv]:
    """A migrated fresh database and declared topology; everything removed on exit."""
    from wacommon.broker.connection import connect
    from wacommon.broker.topology import declare_topology
    from wacommon.migrations import apply_migrations, ensure_database

    env = new_env(tag, extra)
    settings = env.settings()
    try:
        await ensure_database(env.database_url)
        await apply_migrations(env.database_url)
        conn = await connect(settings)
        try:
            channel = await conn.channel()
            await declare_topology(channel, settings)
        finally:
            await conn.close()
        yield env
    finally:
        env.stop_all()
        await cleanup(env)


async def cleanup(env: BenchEnv) -> None:
    """Delete the run's broker names and Redis keys, then drop its database."""
    from wacommon.broker.connection import connect
    from wacommon.broker.topology import delete_topology

    settings = env.settings()
    try:
        conn = await connect(settings, attempts=3)
        try:
            await delete_topology(await conn.channel(), settings)
        finally:
            await conn.close()
    except Exception as exc:
        print(f"cleanup: broker names with prefix {settings.broker_prefix} left: {exc!r}")
    await drop_keys_and_database(env)


async def drop_keys_and_database(env: BenchEnv) -> None:
    """Delete the run's Redis keys (by prefix) and drop its database: the same for any commit."""
    import asyncpg
    import redis.asyncio as aioredis

    client = aioredis.from_url(env.env["REDIS_URL"])
    try:
        match = env.env["REDIS_PREFIX"] + "*"
        keys = [k async for k in client.scan_iter(match=match, count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()
    name = env.database_url.rsplit("/", 1)[1]
    pg = await asyncpg.connect(f"{PG_BASE}/postgres")
    try:
        await pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await pg.close()


@asynccontextmanager
async def migrated_database(tag: str, base: str = PG_BASE) -> AsyncIterator[str]:
    """A fresh migrated database `wa_bench_<tag>_<id>` alone (no broker, no Redis): its URL;
    dropped on exit."""
    import asyncpg

    from wacommon.migrations import apply_migrations, ensure_database

    name = f"wa_bench_{tag}_{uuid.uuid4().hex[:8]}"
    await ensure_database(f"{base}/{name}")
    try:
        await apply_migrations(f"{base}/{name}")
        yield f"{base}/{name}"
    finally:
        pg = await asyncpg.connect(f"{base}/postgres")
        try:
            await pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await pg.close()


async def queue_depth(settings: Any, queue: str, *, prefixed: bool = False) -> int:
    """Messages ready in one queue (its short name, the prefix added unless `prefixed`)."""
    from wacommon.broker.connection import connect

    conn = await connect(settings, attempts=3)
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue if prefixed else settings.q(queue), passive=True)
        count = q.declaration_result.message_count
        return int(count or 0)
    finally:
        await conn.close()


async def purge_queue(settings: Any, queue: str) -> None:
    """Empty one work queue."""
    from wacommon.broker.connection import connect

    conn = await connect(settings, attempts=3)
    try:
        channel = await conn.channel()
        q = await channel.get_queue(settings.q(queue), ensure=False)
        await q.purge()
    finally:
        await conn.close()


async def fetch_sends(graph_url: str) -> list[dict[str, Any]]:
    """Every message send the fake Graph API answered 200, in arrival order."""
    import httpx

    async with httpx.AsyncClient(timeout=60) as client:
        resp = await client.get(graph_url + "/_sandbox/messages")
        resp.raise_for_status()
        out: list[dict[str, Any]] = resp.json()["messages"]
        return out


async def fetch_graph_stats(graph_url: str) -> dict[str, Any]:
    """The bench fake's counters: throttled answers and their arrival times."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        resp = await client.get(graph_url + "/_bench/stats")
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.25
) -> bool:
    """Poll until `check` is true or `timeout` passes; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


# --- the fake Graph API process, with an optional per-number 1-s window rate check ---

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RateCheck:
    """ASGI wrapper: a message send beyond `limit + burst` accepted in the last 1 s of the
    same business number is answered like Meta's throttling (HTTP 429, code 130429)."""

    def __init__(self, app: Any, limit: float, burst: int) -> None:
        from walocal.graph_state import corpus

        self._app = app
        self._max = int(limit) + burst
        self._accepted: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._body = json.dumps(
            corpus("errors/130429_rate_limit_hit.http_reconstructed.json")
        ).encode()
        self.throttled: list[float] = []
        self.accepted_total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path == "/_bench/stats":
            body = json.dumps(
                {
                    "throttled": len(self.throttled),
                    "throttled_at": self.throttled,
                    "accepted": self.accepted_total,
                    "max_per_s": self._max,
                }
            ).encode()
            await _answer(send, 200, body)
            return
        parts = path.strip("/").split("/")
        if (
            self._max > 0
            and scope["type"] == "http"
            and scope.get("method") == "POST"
            and len(parts) == 3
            and parts[2] == "messages"
        ):
            now = time.time()
            window = self._accepted[parts[1]]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self._max:
                self.throttled.append(now)
                await _drain(receive)
                await _answer(send, 429, self._body)
                return
            window.append(now)
            self.accepted_total += 1
        await self._app(scope, receive, send)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message.get("type") != "http.request" or not message.get("more_body"):
            return


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_graph(argv: list[str]) -> None:
    """`graph --port N [--rate-check R --burst B]`: the fake Graph API, any token accepted."""
    import uvicorn

    from walocal.graph import make_graph_app
    from walocal.graph_state import GraphState

    parser = argparse.ArgumentParser(prog="bench.common graph")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--rate-check",
        type=float,
        default=0.0,
        help="answer 130429 beyond this many sends/s per number (+ burst)",
    )
    parser.add_argument("--burst", type=int, default=0)
    args = parser.parse_args(argv)
    app: Any = make_graph_app(GraphState(accept_any_token=True))
    app = RateCheck(app, args.rate_check, args.burst if args.rate_check else 0)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "graph":
        serve_graph(sys.argv[2:])
    else:
        print(__doc__)
