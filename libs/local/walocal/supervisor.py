"""`wa-run`: start every service as its own process, prefix their logs, stop them together.

SIGINT/SIGTERM (Ctrl-C) is forwarded to every child as SIGTERM so each drains its
in-flight work; children still alive after the grace period are killed. If one
service exits on its own the others are stopped too: a half-running stack is
worse than a stopped one.

`--replicas rag-worker=3,sender=2` runs that many processes of a service, named
`rag-worker.0`, `rag-worker.1`, ... in the log prefix; replica i listens on the service's
port + 100 * i (health on every one) and gets REPLICA_INDEX=i and REPLICA_COUNT in its
environment, from which it picks the shard queues it consumes first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field

from wacommon.infra.settings import SERVICE_PORTS

# replica i of a service listens on the service's port + REPLICA_PORT_STEP * i
REPLICA_PORT_STEP = 100

SERVICES = (
    "meta-gateway",
    "lancepilot-ingest",
    "rag-worker",
    "sender",
    "followup",
    "metrics",
    "console",
)
COLORS = ("36", "32", "35", "33", "34", "31", "37", "96")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None


def module_of(service: str) -> str:
    return service.replace("-", "_")


async def _pump(child: Child, color: str, width: int) -> None:
    assert child.process is not None and child.process.stdout is not None
    prefix = (
        f"\x1b[{color}m{child.name:<{width}}\x1b[0m | "
        if sys.stdout.isatty()
        else f"{child.name:<{width}} | "
    )
    while True:
        line = await child.process.stdout.readline()
        if not line:
            return
        sys.stdout.write(prefix + line.decode("utf-8", "replace"))
        sys.stdout.flush()


async def supervise(children: list[Child], grace_s: float = 20.0) -> int:
    """Run the children until a signal or until one of them exits; returns an exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    width = max(len(c.name) for c in children)
    pumps = []
    for i, child in enumerate(children):
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            env={**os.environ, **child.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        pumps.append(asyncio.create_task(_pump(child, COLORS[i % len(COLORS)], width)))
    waits = {asyncio.create_task(c.process.wait()): c for c in children if c.process}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    for task in done:
        if task in waits:
            child = waits[task]
            print(f"supervisor | {child.name} exited with {task.result()}; stopping the others")
            code = 1
    for child in children:
        if child.process and child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*(t for t in waits)), grace_s)
    except TimeoutError:
        for child in children:
            if child.process and child.process.returncode is None:
                print(f"supervisor | {child.name} did not stop in {grace_s}s; killing it")
                child.process.kill()
        await asyncio.gather(*(t for t in waits))
    await asyncio.gather(*pumps, return_exceptions=True)
    print("supervisor | all services stopped")
    return code


def base_port(service: str, environ: dict[str, str] | None = None) -> int:
    """The service's own port: `<SERVICE>_PORT` from the environment, else the default."""
    env = os.environ if environ is None else environ
    own = env.get(module_of(service).upper() + "_PORT")
    return int(own) if own else SERVICE_PORTS.get(service, 8000)


def parse_replicas(text: str) -> dict[str, int]:
    """`rag-worker=3,sender=2` (or space separated) -> {"rag-worker": 3, "sender": 2}."""
    counts: dict[str, int] = {}
    for item in text.replace(",", " ").split():
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise ValueError(f"expected service=count (count >= 1), got {item!r}")
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")
        counts[name] = int(count)
    return counts


def build_children(
    services: list[str], extra: list[Child], replicas: dict[str, int] | None = None
) -> list[Child]:
    python = sys.executable
    children: list[Child] = []
    for s in services:
        count = (replicas or {}).get(s, 1)
        if count == 1:
            children.append(Child(s, [python, "-m", module_of(s)], {"SERVICE_NAME": s}))
            continue
        port = base_port(s)
        for i in range(count):
            env = {
                "SERVICE_NAME": s,
                "REPLICA_INDEX": str(i),
                "REPLICA_COUNT": str(count),
                "HTTP_PORT": str(port + REPLICA_PORT_STEP * i),
            }
            children.append(Child(f"{s}.{i}", [python, "-m", module_of(s)], env))
    return extra + children


def main() -> None:
    """Start the whole stack (or the services named) in the foreground."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("services", nargs="*", default=list(SERVICES), help="services to run")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="also run the local fake provider servers (no real WhatsApp needed)",
    )
    parser.add_argument(
        "--replicas",
        default=os.environ.get("REPLICAS", ""),
        help="processes per service, e.g. rag-worker=3,sender=2 (default: one each)",
    )
    args = parser.parse_args()
    try:
        replicas = parse_replicas(args.replicas)
    except ValueError as exc:
        parser.error(str(exc))
    unknown = [s for s in args.services if s not in SERVICES]
    if unknown:
        parser.error(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    extra: list[Child] = []
    if args.sandbox:
        extra.append(
            Child(
                "sandbox",
                [
                    sys.executable,
                    "-m",
                    "walocal.graph_admin",
                    "--port",
                    os.environ.get("SANDBOX_PORT", "9100"),
                    "--accept-any-token",
                ],
            )
        )
    sys.exit(asyncio.run(supervise(build_children(args.services, extra, replicas))))


if __name__ == "__main__":
    main()
