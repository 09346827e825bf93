"""Inbound replay: re-run the webhooks of a time range from the `ingest.log` stream.

Each entry goes back to the ingest queue as received, so an inbound message that was
already stored (so already answered, or waiting to be) is recognised by its provider id and
not answered again, unless `reanswer_inbound` asks for it (docs/replay.md).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from wacommon.broker import topology
from wacommon.broker.envelope import decode
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import BurstReady, Provider, WebhookReceived
from wacommon.infra.settings import Settings
from wacommon.ops.dead_letters import clean_copy
from wacommon.providers.meta.inbound import MetaMessageItem, parse_meta_webhook
from wacommon.providers.normalised import ParsedMessage
from wacommon.providers.uazapi.inbound import parse_uazapi_webhook
from wacommon.repositories import inbound as inbound_repo

log = structlog.get_logger(__name__)


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
                    clean_copy(message),
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
