"""`python -m tests.fuzz.run --requests N`: schemathesis over every HTTP service, with figures.

The servers run in this process (tests/fuzz/stack.py) against a database, broker prefix
and Redis prefix of their own, dropped at the end. A seeded tenant with Uazapi and
LancePilot instances lets the fuzzer past the 401/404 of unknown ids (tests/fuzz/hooks.py
substitutes real ids for generated ones half of the time). Rounds with fresh seeds run
until the servers have answered at least N generated requests. Exit status 1 when any
server answered a 5xx or a schemathesis check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import asyncpg
import httpx
import redis.asyncio as aioredis

from tests.fakes.server import serve_in_thread
from tests.fuzz.stack import SCHEMA_PATH, SEEDING_HEADER, FuzzStack, Served, fuzz_stack
from wacommon.broker.connection import connect
from wacommon.broker.topology import delete_topology
from wacommon.infra.settings import Settings
from wacommon.migrations import apply_migrations, ensure_database
from walocal.graph_admin import combined_graph_app
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = ROOT / ".run" / "fuzz"
ADMIN_TOKEN = "fuzz-admin-token"
PG_BASE = os.environ.get("TEST_PG_BASE", "postgresql://postgres@127.0.0.1:5432")
# every check schemathesis has runs (its default); where one cannot apply, the config says why
CONFIG = Path(__file__).with_name("schemathesis.toml")
GRAPH = GraphAdminState()
UAZAPI_TOKEN = "fuzz-uazapi-token"


def fuzz_env(run_id: str) -> dict[str, str]:
    """Settings of one fuzz run: its own database, broker names and Redis keys."""
    return {
        "DATABASE_URL": f"{PG_BASE}/wa_fuzz_{run_id}",
        "AMQP_URL": os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "BROKER_PREFIX": f"f{run_id}.",
        "REDIS_PREFIX": f"f{run_id}:",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "CRITICAL",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        # the fake Graph server's app: Embedded Signup and the account routes reach it
        "META_APP_ID": GRAPH.app_id,
        "META_APP_SECRET": GRAPH.app_secret,
        "META_VERIFY_TOKEN": "fuzz-verify-token",
        "ENCRYPTION_KEY": "fuzz-encryption-passphrase",
        # test mode: a passphrase key and a short admin token are accepted (with a warning)
        "WA_ENV": "test",
    }


@dataclass
class ServiceFigures:
    """What one service went through."""

    name: str
    operations: int
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: int = 0
    failed_rounds: list[str] = field(default_factory=list)


@dataclass
class Figures:
    """The whole run."""

    services: list[ServiceFigures]
    seconds: float

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.services)

    @property
    def server_errors(self) -> int:
        return sum(s.server_errors for s in self.services)

    @property
    def ok(self) -> bool:
        return self.server_errors == 0 and not any(s.failed_rounds for s in self.services)

    def table(self) -> str:
        lines = [f"{'service':<20}{'ops':>5}{'requests':>10}{'5xx':>6}  statuses"]
        for s in self.services:
            codes = " ".join(f"{c}:{n}" for c, n in sorted(s.statuses.items()))
            lines.append(
                f"{s.name:<20}{s.operations:>5}{s.requests:>10}{s.server_errors:>6}  {codes}"
            )
            lines.extend(f"    failed: {r}" for r in s.failed_rounds)
        lines.append(
            f"total: {self.requests} requests, {self.server_errors} x 5xx, {self.seconds:.0f} s"
        )
        return "\n".join(lines)


async def prepare(env: Mapping[str, str]) -> None:
    await ensure_database(env["DATABASE_URL"])
    await apply_migrations(env["DATABASE_URL"])


async def teardown(env: Mapping[str, str]) -> None:
    """Drop the run's database, broker topology and Redis keys."""
    with mock.patch.dict(os.environ, env):
        settings = Settings(_env_file=None)
    conn = await asyncpg.connect(f"{PG_BASE}/postgres")
    try:
        name = env["DATABASE_URL"].rsplit("/", 1)[1]
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    amqp = await connect(settings)
    try:
        await delete_topology(await amqp.channel(), settings)
    finally:
        await amqp.close()
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{settings.redis_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def seed_tenant(stack: FuzzStack, admin_token: str) -> dict[str, str]:
    """A tenant with forms on and a Uazapi and a LancePilot instance, made through the admin API."""
    gateway = next((s for s in stack.served if s.target.name == "meta-gateway"), None)
    if gateway is None:
        return {}
    auth = {"Authorization": f"Bearer {admin_token}", SEEDING_HEADER: "1"}
    tools = {
        "form_context": {"active": True, "send_greeting": True, "rate_limit_per_minute": 10**6}
    }
    with httpx.Client(base_url=gateway.url, headers=auth, timeout=30) as http:
        client = (
            http.post("/admin/clients", json={"name": "Fuzz", "tools_config": tools})
            .raise_for_status()
            .json()
        )
        # one number, one tenant: every fresh tenant gets a token and a number of its own
        token = f"{UAZAPI_TOKEN}-{uuid.uuid4().hex[:12]}"
        number = f"55119{uuid.uuid4().int % 10**8:08d}"
        seeded = {"client_id": client["id"], "uazapi_token": token}
        for provider, config in (
            ("uazapi", {"url": "https://uazapi.invalid", "token": token}),
            (
                "lancepilot",
                {"token": f"fuzz-lp-{token}", "workspace_id": "w1", "number": number},
            ),
        ):
            row = (
                http.post(
                    f"/admin/clients/{client['id']}/providers",
                    json={"provider_type": provider, "config": config},
                )
                .raise_for_status()
                .json()
            )
            seeded[f"{provider}_secret"] = row["webhook_url"].rsplit("/", 1)[1]
            seeded["provider_id"] = row["id"]
    return seeded


def operations(served: Served) -> int:
    spec = httpx.get(served.url + SCHEMA_PATH, timeout=30).json()
    methods = {"get", "put", "post", "patch", "delete", "head", "options"}
    return sum(1 for item in spec["paths"].values() for method in item if method in methods)


def schemathesis(
    served: Served, *, examples: int, seed: int, env: Mapping[str, str], seeded: Mapping[str, str]
) -> tuple[int, str]:
    """One `st run` against a served target; (exit code, the file holding its output)."""
    report = REPORT_DIR / f"{served.target.name}-{seed}.xml"
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        served.url + SCHEMA_PATH,
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {env['ADMIN_TOKEN']}",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    run_env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "FUZZ_SEEDED": json.dumps(dict(seeded)),
        "FUZZ_META_APP_SECRET": env["META_APP_SECRET"],
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        command, env=run_env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    output = REPORT_DIR / f"{served.target.name}-{seed}.log"
    output.write_text(done.stdout + done.stderr)
    return done.returncode, str(output.relative_to(ROOT))


def fuzz(
    env: Mapping[str, str],
    *,
    requests: int,
    names: list[str] | None = None,
    seed: int | None = None,
    verbose: bool = True,
) -> Figures:
    """Fuzz every target until the servers answered at least `requests` generated requests."""
    started = time.monotonic()
    base_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    with (
        serve_in_thread(combined_graph_app(GRAPH, GraphState())) as graph,
        fuzz_stack({**env, "META_GRAPH_URL": graph.url}, names) as stack,
    ):
        baseline = {s.target.name: s.counter.requests for s in stack.served}
        figures = [ServiceFigures(s.target.name, operations(s)) for s in stack.served]
        total_ops = sum(f.operations for f in figures)
        round_no = 0
        while True:
            done = sum(s.counter.requests - baseline[s.target.name] for s in stack.served)
            if done >= requests:
                break
            examples = max(1, math.ceil((requests - done) / total_ops))
            before = done
            for served, fig in zip(stack.served, figures, strict=True):
                round_seed = base_seed + round_no
                # a fresh tenant each time: the fuzzer edits (deactivates, re-keys) what it finds
                seeded = seed_tenant(stack, env["ADMIN_TOKEN"])
                code, tail = schemathesis(
                    served, examples=examples, seed=round_seed, env=env, seeded=seeded
                )
                if code != 0:
                    fig.failed_rounds.append(f"seed {round_seed}, exit {code}: {tail}")
                if verbose:
                    print(
                        f"[{served.target.name}] round {round_no} seed {round_seed} "
                        f"examples/op {examples}: exit {code}, "
                        f"{served.counter.requests - baseline[served.target.name]} requests",
                        flush=True,
                    )
            round_no += 1
            done = sum(s.counter.requests - baseline[s.target.name] for s in stack.served)
            if done == before:
                raise RuntimeError("schemathesis sent no request in a whole round")
        for served, fig in zip(stack.served, figures, strict=True):
            fig.requests = served.counter.requests - baseline[served.target.name]
            fig.statuses = dict(served.counter.statuses)
            fig.server_errors = served.counter.server_errors
    return Figures(figures, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", "-n", type=int, default=10_000)
    parser.add_argument("--service", action="append", help="only this service (repeatable)")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    env = fuzz_env(uuid.uuid4().hex[:10])
    asyncio.run(prepare(env))
    try:
        figures = fuzz(env, requests=args.requests, names=args.service, seed=args.seed)
    finally:
        asyncio.run(teardown(env))
    print(figures.table())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
