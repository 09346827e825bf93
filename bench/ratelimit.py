"""Rate limiter benchmark: several OS processes share one GCRA key in Redis.

Phase 1 (try): every process calls `try_acquire` in a tight loop; admitted must equal
rate x seconds + burst (the limit holds under contention); prints the script's round trips/s
and latency. Phase 2 (acquire): every process runs `--senders` tasks looping on `acquire`
(reserve a slot, sleep until it), like sender consumers draining a backlog; prints the achieved
rate in steady state, its deviation from the limit, the most admissions seen in any 1-s window
and how late processes woke after their slot.

    .venv/bin/python bench/ratelimit.py --processes 4 --seconds 10 --rate 80 --burst 10
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

# bench/sender.py is named like the service package: keep this folder from shadowing `sender`
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import redis.asyncio as aioredis  # noqa: E402

from sender.ratelimit import RateLimiter  # noqa: E402
from wacommon.infra.settings import Settings  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    p.add_argument("--rate", type=float, default=80.0, help="limit, messages/s")
    p.add_argument("--burst", type=int, default=10)
    p.add_argument("--senders", type=int, default=8, help="acquire loops per process")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--worker", choices=["try", "acquire"], help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, help=argparse.SUPPRESS)
    return p.parse_args()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def worker(args: argparse.Namespace) -> None:
    """One process: hammer (try) or drain (acquire) until the end; print JSON results."""
    redis = aioredis.from_url(args.redis_url)
    settings = Settings(_env_file=None, redis_prefix=args.prefix)
    limiter = RateLimiter(redis, settings)
    end = args.start + args.seconds
    await asyncio.sleep(max(0.0, args.start - time.time()))
    result: dict[str, object] = {}
    if args.worker == "try":
        admitted, lat, first = 0, [], time.time()
        while time.time() < end:
            t0 = time.perf_counter()
            wait = await limiter.try_acquire(args.key, args.rate, args.burst)
            lat.append((time.perf_counter() - t0) * 1000)
            admitted += wait == 0
        result = {"admitted": admitted, "calls": len(lat), "lat": lat, "first": first}
    else:
        admitted_at: list[float] = []
        late: list[float] = []

        async def sender() -> None:
            while True:
                before = time.time()
                waited = await limiter.acquire(args.key, args.rate, args.burst, max_wait_s=30)
                now = time.time()
                if now >= end:
                    return
                admitted_at.append(now)
                late.append((now - before - waited) * 1000)

        await asyncio.gather(*(sender() for _ in range(args.senders)))
        result = {"at": admitted_at, "late": late}
    print(json.dumps(result))
    await redis.aclose()


def spawn(args: argparse.Namespace, mode: str, prefix: str, key: str, start: float) -> list[dict]:  # type: ignore[type-arg]
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--prefix",
        prefix,
        "--key",
        key,
        "--start",
        str(start),
        "--seconds",
        str(args.seconds),
        "--rate",
        str(args.rate),
        "--burst",
        str(args.burst),
        "--senders",
        str(args.senders),
        "--redis-url",
        args.redis_url,
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE) for _ in range(args.processes)]
    outs = [p.communicate()[0] for p in procs]
    return [json.loads(o) for o in outs]


def main() -> None:
    args = parse_args()
    if args.worker:
        asyncio.run(worker(args))
        return
    prefix = f"benchrl{uuid.uuid4().hex[:8]}:"
    try:
        run(args, prefix)
    finally:
        asyncio.run(cleanup(args.redis_url, prefix))


def run(args: argparse.Namespace, prefix: str) -> None:
    print(
        f"processes={args.processes} seconds={args.seconds} rate={args.rate}/s"
        f" burst={args.burst} senders/process={args.senders}"
    )
    start = time.time() + 3.0
    res = spawn(args, "try", prefix, "number:try", start)
    admitted = sum(r["admitted"] for r in res)
    calls = sum(r["calls"] for r in res)
    lat = [x for r in res for x in r["lat"]]
    # a process that started late shortens the window: count from the first call made
    window = start + args.seconds - min(r["first"] for r in res)
    expected = args.rate * window + args.burst
    print(
        f"try_acquire: admitted {admitted} (rate x {window:.3f} s + burst = {expected:.1f}), from"
        f" {calls} calls = {calls / args.seconds:.0f} round trips/s;"
        f" latency p50={statistics.median(lat):.2f} ms p99={pct(lat, 99):.2f} ms"
    )

    start = time.time() + 3.0
    res = spawn(args, "acquire", prefix, "number:acquire", start)
    at = sorted(x for r in res for x in r["at"])
    late = [x for r in res for x in r["late"]]
    lo, hi = start + 1.0, start + args.seconds
    steady = bisect.bisect_left(at, hi) - bisect.bisect_left(at, lo)
    achieved = steady / (hi - lo)
    peak = max(bisect.bisect_left(at, t + 1.0) - i for i, t in enumerate(at))
    print(
        f"acquire: {len(at)} admitted; steady state {achieved:.2f}/s"
        f" ({(achieved - args.rate) / args.rate * 100:+.2f} % vs limit);"
        f" max in any 1-s window {peak} (limit + burst = {args.rate + args.burst:.0f});"
        f" wake-up after slot p50={statistics.median(late):.2f} ms p99={pct(late, 99):.2f} ms"
    )


async def cleanup(url: str, prefix: str) -> None:
    redis = aioredis.from_url(url)
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


if __name__ == "__main__":
    main()
