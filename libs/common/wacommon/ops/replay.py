"""`wa-replay`: list dead-lettered messages and put them back into the pipeline.

    wa-replay list                                   what sits in every dead-letter queue
    wa-replay dlq [--queue Q] [--tenant T] [--type X] [--error TEXT]
                  [--min-age 10m] [--max-age 2h] [--dry-run]
    wa-replay inbound --since 2h [--until 30m] [--dry-run] [--reanswer]
                                  re-run inbound webhooks of a time range

Replayed messages keep their message id and body, so consumers' idempotency
(provider message ids, outbox keys) still holds: replaying twice is harmless, and an
inbound message that was already stored (so already answered, or waiting to be) is not
answered again unless `--reanswer` asks for it (docs/replay.md). A redriven dead letter carries its history in our own headers
(`wa-redrive-count`, `wa-redriven-at`, `wa-death-history`, `wa-last-error`), so one that
fails again lands in its dead-letter queue with every earlier death listed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from wacommon.broker import topology
from wacommon.broker.connection import connect
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.settings import Settings
from wacommon.ops.dead_letters import Filter, Moved, replay_dead_letters
from wacommon.ops.inbound_replay import InboundRun, reanswer_inbound, replay_inbound
from wacommon.repositories import providers as providers_repo

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '2h', '7d'."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90s, 10m, 2h, 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


async def _dlq_counts(connection: AbstractRobustConnection, settings: Settings) -> dict[str, int]:
    channel = await connection.channel()
    counts = {}
    for wq in topology.WORK_QUEUES:
        queue = await channel.declare_queue(topology.dlq_name(settings.q(wq.name)), passive=True)
        counts[wq.name] = int(queue.declaration_result.message_count or 0)
    await channel.close()
    return counts


def _print_moved(moved: list[Moved], dry_run: bool) -> None:
    verb = "would replay" if dry_run else "replayed"
    for m in moved:
        print(
            f"{verb}  {m.queue:<18} {m.type or '-':<26} tenant={m.tenant_id or '-':<36} "
            f"id={m.message_id} reason={m.reason} redrives={m.redrives} "
            f"error={(m.last_error or '-')[:120]}"
        )
    print(f"{len(moved)} message(s) {verb}")


def _print_inbound(run: InboundRun, dry_run: bool) -> None:
    verb = "would be replayed" if dry_run else "replayed"
    for tenant, n in sorted(run.per_tenant().items()):
        print(f"tenant {tenant}: {n} message(s)")
        for (owner, conversation), count in sorted(run.messages.items()):
            if owner == tenant:
                print(f"  conversation {conversation}: {count}")
    again = "would be answered again" if dry_run else "answered again"
    for (tenant, conversation), ids in sorted(run.reanswered.items()):
        print(f"{again}: tenant {tenant} conversation {conversation}: {len(ids)} message(s)")
    print(
        f"{run.webhooks} inbound webhook(s) {verb}: {sum(run.messages.values())} customer "
        f"message(s) in {len(run.messages)} conversation(s), {run.other} other event(s); "
        + (
            f"{len(run.reanswered)} conversation(s) {again} (--reanswer)"
            if run.reanswered
            else "messages already stored are not answered again"
        )
    )


async def _inbound(connection: AbstractRobustConnection, settings: Settings, args: Any) -> None:
    now = datetime.now(UTC)
    box = box_from_settings(settings)
    db = await asyncpg.connect(settings.database_url)
    try:
        known: dict[tuple[str | None, str | None], str | None] = {}

        async def lookup(phone_id: str | None, display: str | None) -> str | None:
            if (phone_id, display) not in known:
                row = await providers_repo.find_meta_instance(db, box, phone_id, display)
                known[(phone_id, display)] = str(row["client_id"]) if row else None
            return known[(phone_id, display)]

        since, until = now - args.since, now - args.until if args.until else now
        if args.reanswer:
            run = await reanswer_inbound(
                connection,
                settings,
                db,
                since=since,
                until=until,
                lookup=lookup,
                dry_run=args.dry_run,
            )
        else:
            run = await replay_inbound(
                connection, settings, since=since, until=until, dry_run=args.dry_run, lookup=lookup
            )
    finally:
        await db.close()
    _print_inbound(run, args.dry_run)


async def _main(args: argparse.Namespace) -> int:
    settings = Settings()
    connection = await connect(settings, attempts=3)
    try:
        if args.command == "list":
            counts = await _dlq_counts(connection, settings)
            for name, n in counts.items():
                print(f"{topology.dlq_name(name):<24} {n}")
            moved = await replay_dead_letters(connection, settings, dry_run=True)
            _print_moved(moved, dry_run=True)
        elif args.command == "dlq":
            where = Filter(args.tenant, args.type, args.min_age, args.max_age, args.error)
            moved = await replay_dead_letters(
                connection,
                settings,
                queues=[args.queue] if args.queue else None,
                where=where,
                dry_run=args.dry_run,
            )
            _print_moved(moved, args.dry_run)
        else:
            await _inbound(connection, settings, args)
    finally:
        await connection.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of `wa-replay` / `make replay ARGS=...`."""
    parser = argparse.ArgumentParser(
        prog="wa-replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="count and show dead-lettered messages")
    dlq = sub.add_parser("dlq", help="replay dead-lettered messages")
    dlq.add_argument("--queue", choices=[wq.name for wq in topology.WORK_QUEUES])
    dlq.add_argument("--tenant")
    dlq.add_argument("--type", help="message type, e.g. reply.send")
    dlq.add_argument("--min-age", type=parse_duration)
    dlq.add_argument("--max-age", type=parse_duration)
    dlq.add_argument("--error", help="part of the last error or death reason, e.g. 130429")
    dlq.add_argument("--dry-run", action="store_true", help="show what would move; move nothing")
    inbound = sub.add_parser("inbound", help="re-run inbound webhooks of a time range")
    inbound.add_argument("--since", type=parse_duration, required=True, help="e.g. 2h")
    inbound.add_argument("--until", type=parse_duration, help="e.g. 30m (default: now)")
    inbound.add_argument("--dry-run", action="store_true")
    inbound.add_argument(
        "--reanswer",
        action="store_true",
        help="answer again the messages of the range that were stored (answered) before",
    )
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()
