"""Pipeline throughput with 1..N rag-worker replicas and 1..N sender replicas.

Each configuration runs on a fresh database and broker prefix: meta-gateway, ingest,
`k` rag-workers (or `k` senders) and the fake Graph API as processes, one tenant with
debounce off and the offline responder (the instant responder: no LLM call). `--messages`
greetings from distinct customers are posted at `--rate` per second; the run ends when
every reply reached the fake. Printed side by side: replies per second, and the CPU each
service used (all its replicas together), in total and per message. On a machine with
few cores throughput flattens as replicas are added; the CPU per message of each service
must not grow with its replica count (sharding must not cost work per message).

    .venv/bin/python bench/scale.py --messages 400 --rate 150 --max-replicas 3
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bench.common import bench_env, cpu_seconds, fetch_sends  # noqa: E402
from bench.e2e import create_tenant, post_open_loop, settle, signed_greetings  # noqa: E402

SERVICES = ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender")


@dataclass
class Result:
    scaled: str
    replicas: int
    replies: int
    wall_s: float
    cpu_s: dict[str, float]

    @property
    def per_s(self) -> float:
        return self.replies / self.wall_s if self.wall_s else 0.0


async def one_run(scaled: str, replicas: int, args: argparse.Namespace) -> Result:
    extra = {
        "LOG_LEVEL": args.log_level,
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": str(args.pool_max),
        "BROKER_SHARDS": str(args.shards),
        "SHARD_STANDBY_DELAY_S": "1",
    }
    async with bench_env("scale", extra) as env:
        graph = env.graph().start()
        env.env["META_GRAPH_URL"] = graph.url
        procs = []
        for name in SERVICES:
            count = replicas if name == scaled else 1
            for i in range(count):
                replica_env = {"REPLICA_INDEX": str(i), "REPLICA_COUNT": str(count)}
                procs.append(env.service(name, replica_env))
        for p in procs:
            p.start()
        await graph.wait_http("/_sandbox/messages")
        for p in procs:
            await p.wait_http("/readyz")
        await asyncio.sleep(1.5)  # standby subscriptions in place, as in production
        await create_tenant(procs[0].url, graph.url, 10_000)
        warm = signed_greetings(20)
        await post_open_loop(procs[0].url, warm, 20)
        await settle(graph.url, len(warm), 30)
        bodies = signed_greetings(args.messages)
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        t0 = time.monotonic()
        posted, _failed = await post_open_loop(procs[0].url, bodies, args.rate)
        await settle(graph.url, len(warm) + len(posted), args.drain)
        wall = time.monotonic() - t0
        cpu: dict[str, float] = {}
        for p, before in zip(procs, cpu0, strict=True):
            cpu[p.name] = cpu.get(p.name, 0.0) + cpu_seconds(p.pid) - before
        replies = len(await fetch_sends(graph.url)) - len(warm)
        return Result(scaled, replicas, replies, wall, cpu)


def table(results: list[Result]) -> None:
    for scaled in dict.fromkeys(r.scaled for r in results):
        rows = [r for r in results if r.scaled == scaled]
        print(f"\n{scaled} replicas (the other services one each)")
        head = f"{'':28s}" + "".join(f"{r.replicas:>12d}" for r in rows)
        print(head)
        print(f"{'replies':28s}" + "".join(f"{r.replies:>12d}" for r in rows))
        print(f"{'replies per second':28s}" + "".join(f"{r.per_s:>12.1f}" for r in rows))
        for name in SERVICES:
            print(
                f"{name + ' CPU s':28s}" + "".join(f"{r.cpu_s.get(name, 0.0):>12.2f}" for r in rows)
            )
        for name in SERVICES:
            print(
                f"{name + ' CPU ms/message':28s}"
                + "".join(
                    f"{1000 * r.cpu_s.get(name, 0.0) / max(r.replies, 1):>12.2f}" for r in rows
                )
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=400, help="greetings per configuration")
    parser.add_argument("--rate", type=float, default=150.0, help="posts per second")
    parser.add_argument("--max-replicas", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8, help="BROKER_SHARDS")
    parser.add_argument("--pool-max", type=int, default=4, help="DB_POOL_MAX of every process")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for replies")
    parser.add_argument("--only", choices=("rag-worker", "sender"), default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    results = []
    for scaled in ("rag-worker", "sender"):
        if args.only and scaled != args.only:
            continue
        for k in range(1, args.max_replicas + 1):
            print(f"running: {scaled} x{k} ...", flush=True)
            results.append(await one_run(scaled, k, args))
    table(results)


if __name__ == "__main__":
    asyncio.run(main())
