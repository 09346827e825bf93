"""Sender rate limit: several sender processes drain a backlog for ONE business number.

Seeds (through the repositories) one tenant with a Meta number whose provider config says
`rate_limit_per_s: --limit`, one conversation per message (distinct customers, so the
per-user pair limit never applies), an outbound `pending` row each, and publishes one
SendReply per row. Then starts `--processes` senders (`python -m sender`) against a fake
Graph API process that answers like Meta's throttling (HTTP 429, code 130429) whenever more
than limit + burst sends of the number arrive within any 1 s. Prints the achieved rate
(overall and in steady state), its deviation from the limit, the busiest 1-s window, the 429s
seen (and when), and checks every row was sent exactly once.

    .venv/bin/python bench/sender.py --processes 3 --messages 2000 --limit 80
"""

from __future__ import annotations

import os
import sys

# this file is named like the service package: keep its folder off the import path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import bisect  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BenchEnv,
    bench_env,
    cpu_seconds,
    fetch_graph_stats,
    fetch_sends,
    find_pids,
    rss_mb,
)

PHONE_ID, DISPLAY, TOKEN = "106540352242922", "15550783881", "EAAbenchToken000000000000000002"
DEFAULT_BURST = 10  # the sender's default `rate_limit_burst`


async def seed(env: BenchEnv, messages: int, limit: float, burst: int) -> tuple[str, list[int]]:
    """Tenant, number, conversations and outbound rows; one SendReply per row (confirmed)."""
    from wacommon.broker.connection import connect
    from wacommon.broker.publisher import AioPikaPublisher
    from wacommon.broker.schemas import Contact, SendReply
    from wacommon.broker.topology import PIPELINE
    from wacommon.infra.crypto import SecretBox
    from wacommon.infra.db import create_pool
    from wacommon.repositories import clients, conversations, providers
    from wacommon.repositories import messages as msg_repo

    settings = env.settings()
    pool = await create_pool(settings, min_size=1, max_size=10)
    box = SecretBox(settings.encryption_key.get_secret_value())
    try:
        client = await clients.create_client(
            pool, {"name": "Loja Bench", "tools_config": {"mark_read": False}}
        )
        tenant = str(client["id"])
        instance = await providers.create_provider(
            pool,
            box,
            tenant,
            {
                "provider_type": "meta",
                "is_default": True,
                "config": {
                    "phone_id": PHONE_ID,
                    "display_phone_number": DISPLAY,
                    "access_token": TOKEN,
                    "waba_id": "waba-bench",
                    "rate_limit_per_s": limit,
                    "rate_limit_burst": burst,
                },
            },
        )
        instance_id = str(instance["id"])
        prefix = str(uuid.uuid4().int)[:4]
        now = datetime.now(UTC)

        async def one(i: int) -> tuple[str, int]:
            phone = f"55{prefix}{i:09d}"
            conv, _ = await conversations.upsert_for_message(
                pool,
                tenant,
                Contact(key=phone, phone=phone, name=f"Cliente {i}"),
                provider="meta",
                instance_id=instance_id,
                at=now,
                role="customer",
            )
            row_id = await msg_repo.insert_outbound(
                pool,
                tenant,
                str(conv["id"]),
                provider="meta",
                instance_id=instance_id,
                role="bot",
                kind="text",
                content=f"Mensagem {i} do bench",
                payload={},
                idempotency_key=f"bench:{prefix}:{i}",
            )
            assert row_id is not None
            return str(conv["id"]), row_id

        rows: list[tuple[str, int]] = []
        for start in range(0, messages, 50):
            rows += await asyncio.gather(*(one(i) for i in range(start, min(start + 50, messages))))
        connection = await connect(settings)
        try:
            publisher = AioPikaPublisher(connection, settings)
            for start in range(0, len(rows), 200):
                await asyncio.gather(
                    *(
                        publisher.publish(
                            SendReply(tenant_id=tenant, conversation_id=conv, outbound_id=row),
                            exchange=PIPELINE,
                        )
                        for conv, row in rows[start : start + 200]
                    )
                )
            await publisher.close()
        finally:
            await connection.close()
        return tenant, [row for _, row in rows]
    finally:
        await pool.close()


async def drain(graph_url: str, expected: int, timeout: float) -> None:
    """Wait until the fake saw `expected` sends, or nothing new for 15 s."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = (await fetch_graph_stats(graph_url))["accepted"]
        if count >= expected:
            return
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > 15:
            return
        await asyncio.sleep(0.5)


def busiest_window(times: list[float], width: float = 1.0) -> int:
    """Most sends within any `width`-second window."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect.bisect_right(times, t + width - 1e-9) - i)
    return best


async def sent_once(env: BenchEnv, tenant: str, rows: list[int]) -> tuple[int, int]:
    """(rows in state sent, rows with any other state)."""
    import asyncpg

    conn = await asyncpg.connect(env.database_url)
    try:
        records = await conn.fetch(
            "SELECT status, count(*) AS n FROM chat_messages WHERE client_id = $1"
            " AND direction = 'out' AND id = ANY($2::bigint[]) GROUP BY status",
            tenant,
            rows,
        )
    finally:
        await conn.close()
    by = {r["status"]: int(r["n"]) for r in records}
    return by.get("sent", 0), sum(n for s, n in by.items() if s != "sent")


def per_process(procs: list[Any]) -> list[int]:
    """`reply_sent` log lines of each sender process."""
    counts = []
    for p in procs:
        text = p.log_path.read_text(errors="replace") if p.log_path.exists() else ""
        counts.append(text.count('"reply_sent"'))
    return counts


async def run(args: argparse.Namespace) -> None:
    async with bench_env("sender", {"LOG_LEVEL": args.log_level}) as env:
        graph = env.graph(rate_check=args.limit, burst=args.burst).start()
        env.env["META_GRAPH_URL"] = graph.url
        await graph.wait_http("/_sandbox/messages")
        t = time.monotonic()
        tenant, rows = await seed(env, args.messages, args.limit, args.burst)
        print(
            f"seeded {len(rows)} outbound rows + SendReply commands in {time.monotonic() - t:.1f} s"
        )
        procs = [env.service("sender") for _ in range(args.processes)]
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_http("/readyz")
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        beams = find_pids("beam.smp")
        broker0 = sum(cpu_seconds(b) for b in beams)
        t0 = time.monotonic()
        await drain(graph.url, args.messages, args.timeout)
        wall = time.monotonic() - t0
        cpu = [100 * (cpu_seconds(p.pid) - c) / wall for p, c in zip(procs, cpu0, strict=True)]
        broker = 100 * (sum(cpu_seconds(b) for b in beams) - broker0) / wall
        await asyncio.sleep(1.0)
        sends = sorted(float(s["at"]) for s in await fetch_sends(graph.url))
        stats = await fetch_graph_stats(graph.url)
        sent, other = await sent_once(env, tenant, rows)
        report(args, sends, stats, sent, other, per_process(procs))
        print(
            "CPU while draining (% of one core): senders "
            + ", ".join(f"{c:.0f}" for c in cpu)
            + f"; rabbitmq {broker:.0f}; 1-min load average {os.getloadavg()[0]:.1f}"
        )
        print(
            "memory at the end (RSS now / peak): "
            + ", ".join(
                f"sender {p.pid} {rss_mb(p.pid)[0]:.0f}/{rss_mb(p.pid)[1]:.0f} MB" for p in procs
            )
        )


def report(
    args: argparse.Namespace,
    sends: list[float],
    stats: dict[str, Any],
    sent: int,
    other: int,
    counts: list[int],
) -> None:
    if len(sends) < 2:
        print(f"only {len(sends)} sends reached the fake; see .run/bench-logs")
        return
    first, last = sends[0], sends[-1]
    overall = (len(sends) - 1) / (last - first)
    # steady state: after the start-up (the limiter's initial burst, connections opening)
    steady_times = [s for s in sends if s >= first + args.startup]
    steady = (len(steady_times) - 1) / (last - steady_times[0]) if len(steady_times) > 1 else 0.0
    deviation = 100 * (steady - args.limit) / args.limit
    throttled = [float(x) - first for x in stats["throttled_at"]]
    steady_429 = [x for x in throttled if x >= args.startup]
    print(
        f"sends at the fake {len(sends)} over {last - first:.2f} s by {args.processes} processes"
        f" (per process {counts})"
    )
    print(
        f"rate overall {overall:.2f}/s, steady state (after {args.startup:g} s) {steady:.2f}/s"
        f" vs limit {args.limit:g}/s: deviation {deviation:+.2f} %"
    )
    print(
        f"busiest 1-s window {busiest_window(sends)} sends (fake allows limit + burst ="
        f" {stats['max_per_s']})"
    )
    print(
        f"429 (130429) answers: {len(throttled)}, in steady state {len(steady_429)}"
        + (f" at +{', +'.join(f'{x:.2f}' for x in throttled[:10])} s" if throttled else "")
    )
    print(
        f"rows sent {sent}/{args.messages}, not sent {other}, duplicate sends"
        f" {max(0, len(sends) - sent)}"
    )
    ok = abs(deviation) <= 5 and not steady_429 and sent == args.messages
    print(f"targets (within 5 % of the limit, no 429 in steady state): {'met' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--limit", type=float, default=80, help="rate_limit_per_s of the number")
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST, help="rate_limit_burst")
    parser.add_argument("--timeout", type=float, default=300, help="max seconds to drain")
    parser.add_argument(
        "--startup",
        type=float,
        default=2.0,
        help="seconds after the first send that count as start-up, not steady state",
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the senders")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
