"""Another commit's services beside this checkout's, for a bench that compares the two.

`prepare_baseline("382720b")` makes (or reuses) a detached git worktree of that commit under
`$BENCH_BASELINE_DIR` (default `<tmp>/wa-bench-baselines/<sha>`) and gives it its own venv
(`scripts/install.sh .venv` run from that checkout, reused once it succeeded), so the
baseline's services import the baseline's code and dependencies, never this checkout's.

`target_env(tag, target)` is `bench_env` for either checkout. For another commit, the schema
and the broker topology are created and deleted by that commit's own code (a short script
run with its interpreter: older commits have other migrations and other queue names), Redis
keys and the database by prefix and name from here, and any queue still carrying the run's
prefix afterwards is deleted too (listed with `rabbitmqctl` when it is installed).

Everything else stays on this side: the load generator, the fake Graph API and the figures
are this checkout's, identical for both, so the two columns differ only by the services under
test. `comparison_lines` prints them side by side with the ratio current / baseline.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, BenchEnv, bench_env, drop_keys_and_database, new_env

# issue 17's targets: our services' CPU per message, and PostgreSQL + RabbitMQ's, vs baseline
SERVICES_TARGET = 0.5
SERVERS_TARGET = 0.7
POSTGRES, RABBITMQ = "postgres (this DB)", "rabbitmq (shared)"

# Run with the target's interpreter from the target's checkout: only names every commit since
# the bench existed has (Settings read from the environment the services get, the migrations,
# declare/delete_topology), so the schema and queues are exactly that commit's.
TOPOLOGY_SCRIPT = """
import asyncio, sys
from wacommon.broker.connection import connect
from wacommon.broker.topology import declare_topology, delete_topology
from wacommon.migrations import apply_migrations, ensure_database
try:
    from wacommon.infra.settings import Settings
except ImportError:  # a checkout from before libs/ was laid out by kind
    from wacommon.settings import Settings

async def main(action):
    settings = Settings(_env_file=None)
    if action == "setup":
        await ensure_database(settings.database_url)
        await apply_migrations(settings.database_url)
    conn = await connect(settings, attempts=3)
    try:
        channel = await conn.channel()
        if action == "setup":
            await declare_topology(channel, settings)
        else:
            await delete_topology(channel, settings)
    finally:
        await conn.close()

asyncio.run(main(sys.argv[1]))
"""


@dataclass(frozen=True)
class Target:
    """A checkout whose services a bench runs: its folder and the interpreter of its venv."""

    label: str
    root: Path
    python: str


@dataclass
class Figures:
    """What one or more measured runs of a target used; the sums of every round."""

    cpu: dict[str, float]  # CPU seconds in the measured window, by process (group)
    replies: int
    commits: int
    wall: float
    machine: float  # busy CPU seconds of the whole machine
    generator: float  # CPU seconds of the bench's own process (the load generator)
    p50_ms: list[float] = field(default_factory=list)

    def __add__(self, other: Figures) -> Figures:
        names = list(dict.fromkeys([*self.cpu, *other.cpu]))
        return Figures(
            cpu={n: self.cpu.get(n, 0.0) + other.cpu.get(n, 0.0) for n in names},
            replies=self.replies + other.replies,
            commits=self.commits + other.commits,
            wall=self.wall + other.wall,
            machine=self.machine + other.machine,
            generator=self.generator + other.generator,
            p50_ms=[*self.p50_ms, *other.p50_ms],
        )

    def per_message_ms(self, *names: str) -> float:
        return 1000 * sum(self.cpu.get(n, 0.0) for n in names) / max(1, self.replies)


def _git(*args: str, cwd: Path = ROOT) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def current_target() -> Target:
    """This checkout, labelled with its commit (and "+changes" when the tree differs)."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):  # a copy without git: no commit to name
        return Target("this checkout", ROOT, sys.executable)
    return Target(f"this checkout {sha}{'+changes' if dirty else ''}", ROOT, sys.executable)


def baseline_dir(sha: str) -> Path:
    """Where the worktree of commit `sha` lives (a cache: reused by later runs)."""
    base = os.environ.get("BENCH_BASELINE_DIR") or os.path.join(
        tempfile.gettempdir(), "wa-bench-baselines"
    )
    return Path(base) / sha[:12]


def prepare_baseline(commit: str) -> Target:
    """A detached worktree of `commit` with its own venv, made once and then reused."""
    sha = _git("rev-parse", "--verify", f"{commit}^{{commit}}")
    where = baseline_dir(sha)
    if not (where / ".git").exists():
        _git("worktree", "prune")  # a cache folder deleted by hand leaves its registration
        where.parent.mkdir(parents=True, exist_ok=True)
        print(f"baseline: git worktree add --detach {where} {sha[:12]}")
        _git("worktree", "add", "--detach", str(where), sha)
    head = _git("rev-parse", "HEAD", cwd=where)
    if head != sha:
        raise SystemExit(f"{where} is at {head[:12]}, not {sha[:12]}: remove it and run again")
    if _git("status", "--porcelain", "--untracked-files=no", cwd=where):
        print(f"warning: the baseline worktree {where} has local changes")
    venv = where / ".venv"
    ready = venv / ".bench-ready"
    if not ready.exists():
        print(f"baseline: installing its venv (scripts/install.sh .venv in {where})")
        subprocess.run(["scripts/install.sh", ".venv"], cwd=where, check=True)
        ready.touch()
    name = sha[:7] if sha.startswith(commit) else f"{commit} ({sha[:7]})"
    return Target(f"baseline {name}", where, str(venv / "bin" / "python"))


async def _topology(target: Target, env: BenchEnv, action: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        target.python,
        "-c",
        TOPOLOGY_SCRIPT,
        action,
        env=env.env,
        cwd=target.root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{action} with {target.label}'s code failed:\n{out.decode()[-3000:]}")


async def _delete_leftover_queues(env: BenchEnv) -> None:
    """Queues still named with the run's prefix (a topology the teardown did not know)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return
    listing = await asyncio.to_thread(
        subprocess.run,
        [ctl, "-q", "list_queues", "name"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    prefix = env.env["BROKER_PREFIX"]
    left = [n.strip() for n in listing.stdout.splitlines() if n.strip().startswith(prefix)]
    if not left:
        return
    from wacommon.broker.connection import connect

    conn = await connect(env.settings(), attempts=3)
    try:
        channel = await conn.channel()
        for name in left:
            await channel.queue_delete(name)
    finally:
        await conn.close()
    print(f"cleanup: deleted {len(left)} queues the teardown left: {', '.join(left)}")


@asynccontextmanager
async def target_env(
    tag: str, target: Target, extra: dict[str, str] | None = None
) -> AsyncIterator[BenchEnv]:
    """`bench_env` for `target`: its services, schema and topology; all removed on exit."""
    if target.root == ROOT:
        async with bench_env(tag, extra) as env:
            yield env
        return
    env = new_env(tag, extra)
    env.root, env.python = target.root, target.python
    env.env.pop("PYTHONPATH", None)  # its services import its own code only
    try:
        await _topology(target, env, "setup")
        yield env
    finally:
        env.stop_all()
        try:
            await _topology(target, env, "teardown")
        except Exception as exc:
            print(f"cleanup: {exc}")
        try:
            await _delete_leftover_queues(env)
        except Exception as exc:
            print(f"cleanup: queues with prefix {env.env['BROKER_PREFIX']} may be left: {exc!r}")
        await drop_keys_and_database(env)


def ratio(base: float, current: float) -> str:
    """current / base as "0.52 ×", or "n/a" when the baseline figure is zero or missing."""
    if not base or math.isnan(base) or math.isnan(current):
        return "n/a"
    return f"{current / base:.2f} ×"


def comparison_lines(
    base: Figures, current: Figures, services: Sequence[str], base_label: str, cur_label: str
) -> list[str]:
    """Both targets' CPU per message, by process and in the groups issue 17 sets targets for,
    and the ratio current / baseline."""
    rows: list[tuple[str, float, float]] = [
        (name, base.per_message_ms(name), current.per_message_ms(name)) for name in services
    ]
    ours = (base.per_message_ms(*services), current.per_message_ms(*services))
    servers = (base.per_message_ms(POSTGRES, RABBITMQ), current.per_message_ms(POSTGRES, RABBITMQ))
    rows.append((f"our {len(services)} services", *ours))
    rows += [(n, base.per_message_ms(n), current.per_message_ms(n)) for n in (POSTGRES, RABBITMQ)]
    rows.append(("PostgreSQL + RabbitMQ", *servers))
    others = [n for n in base.cpu if n not in (*services, POSTGRES, RABBITMQ)]
    rows += [(n, base.per_message_ms(n), current.per_message_ms(n)) for n in others]
    per = (max(1, base.replies), max(1, current.replies))
    generator = (1000 * base.generator / per[0], 1000 * current.generator / per[1])
    rows.append(("this load generator", *generator))
    rows.append(("whole machine", 1000 * base.machine / per[0], 1000 * current.machine / per[1]))
    out = [
        f"CPU per message (ms): A = {base_label}, B = {cur_label}",
        f"  {'':24s} {'A':>8s} {'B':>8s}  {'B / A':>7s}",
    ]
    out += [f"  {n:24s} {a:8.2f} {b:8.2f}  {ratio(a, b):>7s}" for n, a, b in rows]
    commits = (base.commits / per[0], current.commits / per[1])
    out.append(
        f"  {'PG commits per message':24s} {commits[0]:8.1f} {commits[1]:8.1f}"
        f"  {ratio(*commits):>7s}"
    )
    speed = (base.replies / max(base.wall, 1e-9), current.replies / max(current.wall, 1e-9))
    out.append(f"  {'replies per second':24s} {speed[0]:8.1f} {speed[1]:8.1f}")
    out.append(
        f"  {'latency p50 (ms)':24s} "
        f"{'/'.join(f'{v:.0f}' for v in base.p50_ms):>8s} "
        f"{'/'.join(f'{v:.0f}' for v in current.p50_ms):>8s}"
    )
    # the load generator and the fake Graph API are the same code on both sides: a ratio far
    # from 1 there means the two runs met a differently loaded machine, not a code change
    graph = (base.per_message_ms("fake-graph"), current.per_message_ms("fake-graph"))
    out.append(
        f"control (same code both sides): load generator {ratio(*generator)},"
        f" fake Graph API {ratio(*graph)}; far from 1 × means the machine was loaded differently"
    )
    out.append(
        f"targets: our services <= {SERVICES_TARGET} × baseline: "
        f"{_verdict(*ours, SERVICES_TARGET)}; PostgreSQL + RabbitMQ <= {SERVERS_TARGET} ×: "
        f"{_verdict(*servers, SERVERS_TARGET)}"
    )
    return out


def _verdict(base: float, current: float, target: float) -> str:
    if not base:
        return "n/a"
    return "met" if current <= target * base else "MISSED"
