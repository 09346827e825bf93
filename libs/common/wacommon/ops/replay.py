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
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from wacommon.broker import topology
from wacommon.broker.connection import connect
from wacommon.broker.envelope import decode
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import BurstReady, Provider, WebhookReceived
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.settings import Settings
from wacommon.providers.meta.inbound import MetaMessageItem, parse_meta_webhook
from wacommon.providers.normalised import ParsedMessage
from wacommon.providers.uazapi.inbound import parse_uazapi_webhook
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import providers as providers_repo

log = structlog.get_logger(__name__)

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
    # a case-insensitive part of the last error or of the broker's death reason
    error: str | None = None

    def matches(self, message: AbstractIncomingMessage, now: datetime) -> bool:
        headers = message.headers or {}
        if self.tenant and str(headers.get("tenant_id") or "") != self.tenant:
            return False
        if self.type and message.type != self.type:
            return False
        if self.error:
            said = f"{_last_error(message) or ''} {_reason(message) or ''}".lower()
            if self.error.lower() not in said:
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
    last_error: str | None = None
    redrives: int = 0


# our own history headers: they survive the broker's dead-lettering and our redrives
REDRIVE_COUNT = "wa-redrive-count"
REDRIVEN_AT = "wa-redriven-at"
DEATH_HISTORY = "wa-death-history"
LAST_ERROR = "wa-last-error"
_HISTORY_KEPT = 20


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


def _reason(message: AbstractIncomingMessage) -> str | None:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return _text(deaths[0].get("reason"))
    return None


def _last_error(message: AbstractIncomingMessage) -> str | None:
    value = (message.headers or {}).get(LAST_ERROR)
    return _text(value) if value else None


def _deaths(message: AbstractIncomingMessage) -> list[str]:
    """The broker's `x-death` entries of this stay in the dead-letter queue, one line each."""
    deaths = (message.headers or {}).get("x-death")
    lines = []
    for death in deaths if isinstance(deaths, list) else []:
        if isinstance(death, dict):
            when = death.get("time")
            stamp = when.isoformat() if isinstance(when, datetime) else _text(when or "")
            lines.append(
                f"{_text(death.get('queue'))} {_text(death.get('reason'))}"
                f" count={_text(death.get('count'))} at={stamp}"
            )
    return lines


def _redrive_copy(message: AbstractIncomingMessage, now: datetime) -> aio_pika.Message:
    """The clean copy plus what it went through: one that fails again shows it all."""
    copy = _clean_copy(message)
    old = message.headers or {}
    earlier = old.get(DEATH_HISTORY)
    history = [_text(h) for h in earlier] if isinstance(earlier, list) else []
    error = _last_error(message)
    history += [f"{line} error={error}" if error else line for line in _deaths(message)]
    headers: dict[str, Any] = dict(copy.headers or {})
    headers[REDRIVE_COUNT] = _count(old.get(REDRIVE_COUNT)) + 1
    headers[REDRIVEN_AT] = now.isoformat()
    headers[DEATH_HISTORY] = history[-_HISTORY_KEPT:]
    # the error it meets next is written afresh; the old one is in the history
    headers.pop(LAST_ERROR, None)
    copy.headers = headers
    return copy


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
                            _last_error(message),
                            _count(headers.get(REDRIVE_COUNT)),
                        )
                    )
                    if dry_run:
                        continue
                    await publisher.publish_raw(
                        _redrive_copy(message, now),
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


# (phone_number_id, display_phone_number) of a Meta webhook -> its tenant id, or None
TenantLookup = Callable[[str | None, str | None], Awaitable[str | None]]


@dataclass
class InboundRun:
    """What an inbound replay re-ran (or, dry, would re-run)."""

    webhooks: int = 0
    # (tenant id, or `unrouted:<phone id>`; conversation key: the customer) -> messages
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)
    # webhooks that carry no customer message (statuses, account events)
    other: int = 0
    # tenant id -> provider message ids of its customer messages in the range
    provider_ids: dict[str, list[str]] = field(default_factory=dict)
    # (tenant id, conversation id) -> the stored messages a re-answer names
    reanswered: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def per_tenant(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (tenant, _conversation), n in self.messages.items():
            totals[tenant] += n
        return totals


async def _tally(run: InboundRun, body: bytes, lookup: TenantLookup | None) -> None:
    """Count one stream entry's customer messages per tenant and conversation."""
    try:
        envelope = decode(body)
        if not isinstance(envelope, WebhookReceived):
            run.other += 1
            return
        payload = envelope.payload()
    except Exception:
        run.other += 1
        return
    found = False
    if envelope.provider is Provider.META:
        for item in parse_meta_webhook(payload):
            if not isinstance(item, MetaMessageItem) or item.echo:
                continue
            tenant = (
                await lookup(item.phone_number_id, item.display_phone_number) if lookup else None
            )
            where = tenant or f"unrouted:{item.phone_number_id or item.display_phone_number}"
            run.messages[(where, item.to_contact().key)] += 1
            if tenant:
                run.provider_ids.setdefault(tenant, []).append(item.provider_message_id)
            found = True
    elif envelope.provider is Provider.UAZAPI:
        messages: tuple[ParsedMessage, ...] = tuple(parse_uazapi_webhook(payload).messages)
        for parsed in messages:
            if not parsed.own_echo:
                run.messages[(envelope.tenant_id or "-", parsed.contact.key)] += 1
                if envelope.tenant_id:
                    run.provider_ids.setdefault(envelope.tenant_id, []).append(
                        parsed.provider_message_id
                    )
                found = True
    if not found:
        run.other += 1


async def replay_inbound(
    connection: AbstractRobustConnection,
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None = None,
    dry_run: bool = False,
    idle_s: float = 1.0,
    lookup: TenantLookup | None = None,
) -> InboundRun:
    """Re-run the inbound webhooks of a time range from the `ingest.log` stream.

    Each entry goes to the ingest queue as it was received: a message already stored is
    recognised by its provider id and neither stored nor answered again; one that was
    unrouted (no tenant had its number then) is routed now and answered once.
    """
    until = until or datetime.now(UTC)
    publisher = AioPikaPublisher(connection, settings)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=500)
    stream = await channel.get_queue(settings.q(topology.INGEST_STREAM), ensure=False)
    run = InboundRun()
    done = asyncio.Event()
    last_seen = asyncio.get_running_loop().time()

    # aio-pika runs callbacks as concurrent tasks: one at a time keeps the stream's order
    # (and the lookup's one database connection free)
    in_order = asyncio.Lock()

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal last_seen
        async with in_order:
            last_seen = asyncio.get_running_loop().time()
            stamp = message.timestamp
            if stamp is not None and stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            await message.ack()
            if stamp is None or stamp < since or done.is_set():
                return
            if stamp > until:
                done.set()
                return
            run.webhooks += 1
            if not dry_run:
                await publisher.publish_raw(
                    _clean_copy(message),
                    exchange=topology.REQUEUE,
                    routing_key=settings.q(topology.INGEST_QUEUE),
                )
            try:
                await _tally(run, message.body, lookup)
            except Exception as exc:
                # the summary is a courtesy: it never stops a replay
                log.warning("replay_tally_failed", error=repr(exc))
                run.other += 1

    offset = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    tag = await stream.consume(on_message, arguments={"x-stream-offset": offset})
    while not done.is_set():
        await asyncio.sleep(0.2)
        if asyncio.get_running_loop().time() - last_seen > idle_s:
            break
    await stream.cancel(tag)
    await channel.close()
    await publisher.close()
    return run


async def _stored_before(
    db: asyncpg.Connection | asyncpg.Pool, provider_ids: dict[str, list[str]]
) -> dict[tuple[str, str], list[tuple[int, datetime]]]:
    """(tenant, conversation) -> (id, stored at) of the range's customer messages stored now."""
    found: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
    for tenant, ids in provider_ids.items():
        rows = await db.fetch(
            """SELECT id, conversation_id, created_at FROM chat_messages
               WHERE client_id = $1 AND provider_message_id = ANY($2::text[])
                 AND direction = 'in' AND role = 'customer'""",
            tenant,
            ids,
        )
        for r in rows:
            key = (tenant, str(r["conversation_id"]))
            found.setdefault(key, []).append((int(r["id"]), r["created_at"]))
    return found


async def reanswer_inbound(
    connection: AbstractRobustConnection,
    settings: Settings,
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    since: datetime,
    until: datetime,
    lookup: TenantLookup,
    dry_run: bool = False,
    idle_s: float = 1.0,
) -> InboundRun:
    """Replay a range and answer again what of it was stored before: `--reanswer`.

    What was not stored yet goes through the ordinary replay (stored, answered once). What
    was stored before the replay is answered again with one burst per conversation, named
    `reanswer:<run>:<conversation>`: a redelivered burst finds its reply by that key and
    sends nothing new, so one run re-answers once; another run is another explicit answer.
    A conversation with a newer customer message than the range's drops it as stale.
    """
    plan = await replay_inbound(
        connection, settings, since=since, until=until, dry_run=True, idle_s=idle_s, lookup=lookup
    )
    stored = await _stored_before(db, plan.provider_ids)
    plan.reanswered = {key: sorted(i for i, _at in rows) for key, rows in stored.items()}
    if dry_run:
        return plan
    run = await replay_inbound(
        connection, settings, since=since, until=until, idle_s=idle_s, lookup=lookup
    )
    run.reanswered = plan.reanswered
    tag = uuid.uuid4().hex[:12]
    publisher = AioPikaPublisher(connection, settings)
    try:
        for (tenant, conversation), rows in sorted(stored.items()):
            burst_id = f"{inbound_repo.REANSWER_PREFIX}{tag}:{conversation}"
            await publisher.publish(
                BurstReady(
                    tenant_id=tenant,
                    conversation_id=conversation,
                    burst_id=burst_id,
                    message_ids=sorted(i for i, _at in rows),
                    first_message_at=min(at for _i, at in rows),
                    correlation_id=burst_id,
                ),
                exchange=topology.PIPELINE,
            )
    finally:
        await publisher.close()
    return run


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


__all__: list[Any] = [
    "Filter",
    "InboundRun",
    "Moved",
    "main",
    "reanswer_inbound",
    "replay_dead_letters",
    "replay_inbound",
]
