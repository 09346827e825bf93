"""`wa-replay`: list dead-lettered messages and put them back into the pipeline.

    wa-replay list                                   what sits in every dead-letter queue
    wa-replay dlq [--queue Q] [--tenant T] [--type X] [--min-age 10m] [--max-age 2h] [--dry-run]
    wa-replay inbound --since 2h [--until 30m] [--dry-run]   re-run inbound webhooks of a time range

Replayed messages keep their message id and body, so consumers' idempotency
(provider message ids, outbox keys) still holds: replaying twice is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from wacommon.broker import topology
from wacommon.broker.connection import connect
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '2h', '7d'."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90s, 10m, 2h, 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Filter:
    tenant: str | None = None
    type: str | None = None
    min_age: timedelta | None = None
    max_age: timedelta | None = None

    def matches(self, message: AbstractIncomingMessage, now: datetime) -> bool:
        headers = message.headers or {}
        if self.tenant and str(headers.get("tenant_id") or "") != self.tenant:
            return False
        if self.type and message.type != self.type:
            return False
        stamp = message.timestamp
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        age = now - stamp if stamp else None
        if self.min_age and (age is None or age < self.min_age):
            return False
        return not (self.max_age and (age is None or age > self.max_age))


@dataclass(frozen=True)
class Moved:
    queue: str
    message_id: str | None
    type: str | None
    tenant_id: str | None
    reason: str | None


def _reason(message: AbstractIncomingMessage) -> str | None:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return str(deaths[0].get("reason"))
    return None


def _clean_copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if not k.startswith("x-death")
        and k
        not in (
            "x-retry-count",
            "wa-retry-tier",
            "x-first-death-exchange",
            "x-first-death-queue",
            "x-first-death-reason",
            "x-delivery-count",
        )
    }
    headers["x-replayed"] = True
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
    )


async def replay_dead_letters(
    connection: AbstractRobustConnection,
    settings: Settings,
    *,
    queues: list[str] | None = None,
    where: Filter | None = None,
    dry_run: bool = False,
) -> list[Moved]:
    """Move matching dead-lettered messages back to their work queues (or only list them)."""
    where = where or Filter()
    names = queues or [wq.name for wq in topology.WORK_QUEUES]
    publisher = AioPikaPublisher(connection, settings)
    moved: list[Moved] = []
    now = datetime.now(UTC)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                dlq = await channel.get_queue(topology.dlq_name(settings.q(name)), ensure=False)
                held: list[AbstractIncomingMessage] = []
                while (message := await dlq.get(no_ack=False, fail=False)) is not None:
                    held.append(message)
                for message in held:
                    if not where.matches(message, now):
                        continue
                    headers = message.headers or {}
                    moved.append(
                        Moved(
                            name,
                            message.message_id,
                            message.type,
                            str(headers.get("tenant_id") or "") or None,
                            _reason(message),
                        )
                    )
                    if dry_run:
                        continue
                    await publisher.publish_raw(
                        _clean_copy(message),
                        exchange=topology.REQUEUE,
                        routing_key=settings.q(name),
                    )
                    await message.ack()
            finally:
                # whatever was not moved goes back to the dead-letter queue
                await channel.close()
    finally:
        await publisher.close()
    return moved


async def replay_inbound(
    connection: AbstractRobustConnection,
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None = None,
    dry_run: bool = False,
    idle_s: float = 1.0,
) -> int:
    """Re-run the inbound webhooks of a time range from the `ingest.log` stream."""
    until = until or datetime.now(UTC)
    publisher = AioPikaPublisher(connection, settings)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=500)
    stream = await channel.get_queue(settings.q(topology.INGEST_STREAM), ensure=False)
    count = 0
    done = asyncio.Event()
    last_seen = asyncio.get_running_loop().time()

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal count, last_seen
        last_seen = asyncio.get_running_loop().time()
        stamp = message.timestamp
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        await message.ack()
        if stamp is None or stamp < since:
            return
        if stamp > until:
            done.set()
            return
        count += 1
        if not dry_run:
            await publisher.publish_raw(
                _clean_copy(message),
                exchange=topology.REQUEUE,
                routing_key=settings.q(topology.INGEST_QUEUE),
            )

    offset = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    tag = await stream.consume(on_message, arguments={"x-stream-offset": offset})
    while not done.is_set():
        await asyncio.sleep(0.2)
        if asyncio.get_running_loop().time() - last_seen > idle_s:
            break
    await stream.cancel(tag)
    await channel.close()
    await publisher.close()
    return count


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
            f"id={m.message_id} reason={m.reason}"
        )
    print(f"{len(moved)} message(s) {verb}")


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
            where = Filter(args.tenant, args.type, args.min_age, args.max_age)
            moved = await replay_dead_letters(
                connection,
                settings,
                queues=[args.queue] if args.queue else None,
                where=where,
                dry_run=args.dry_run,
            )
            _print_moved(moved, args.dry_run)
        else:
            now = datetime.now(UTC)
            n = await replay_inbound(
                connection,
                settings,
                since=now - args.since,
                until=now - args.until if args.until else now,
                dry_run=args.dry_run,
            )
            print(f"{n} inbound webhook(s) {'would be ' if args.dry_run else ''}replayed")
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
    dlq.add_argument("--dry-run", action="store_true", help="show what would move; move nothing")
    inbound = sub.add_parser("inbound", help="re-run inbound webhooks of a time range")
    inbound.add_argument("--since", type=parse_duration, required=True, help="e.g. 2h")
    inbound.add_argument("--until", type=parse_duration, help="e.g. 30m (default: now)")
    inbound.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()


__all__: list[Any] = ["Filter", "Moved", "main", "replay_dead_letters", "replay_inbound"]
