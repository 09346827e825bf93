"""Consumer handlers of the ingest service: raw webhooks in, stored messages and bursts out."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError

from lancepilot_ingest.bursts import Burst
from lancepilot_ingest.deps import IngestDeps
from lancepilot_ingest.item_rejects import isolated
from lancepilot_ingest.outcome import InboundOutcome, debounce_config
from lancepilot_ingest.pipeline import INBOUND, process_inbound, store_plain
from wacommon.broker.consumer import Delivery
from wacommon.broker.dispatch import MessageHandler
from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import (
    BurstReady,
    Envelope,
    InboundMessage,
    Provider,
    SendReply,
    WebhookReceived,
)
from wacommon.broker.topology import PIPELINE
from wacommon.infra.dbtypes import Conn
from wacommon.infra.errors import PermanentError
from wacommon.providers import sandbox
from wacommon.providers.lancepilot.inbound import parse_lancepilot_webhook
from wacommon.providers.meta.inbound import (
    MetaErrorItem,
    MetaFieldEvent,
    MetaItem,
    MetaMessageItem,
    MetaStatusItem,
    parse_meta_webhook,
)
from wacommon.providers.normalised import IgnoredEvent, ParsedMessage
from wacommon.providers.sandbox import SandboxWebhook
from wacommon.providers.uazapi.inbound import TRACK_SOURCE as OUR_TRACK_SOURCE
from wacommon.providers.uazapi.inbound import parse_uazapi_webhook
from wacommon.repositories import event_types as ev
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import record_event
from wacommon.tenants.config import TenantConfig

log = structlog.get_logger(__name__)


async def handle_webhook_received(msg: Envelope, delivery: Delivery, *, deps: IngestDeps) -> None:
    """Parse a raw provider webhook and process every item in it."""
    if not isinstance(msg, WebhookReceived):
        raise PermanentError(f"unexpected message type {msg.type}")
    try:
        # strings PostgreSQL refuses (U+0000, lone surrogates) are cleaned in this one parse
        payload = msg.payload()
    except ValueError as exc:
        raise PermanentError("webhook body is not JSON") from exc
    if msg.provider is Provider.META:
        for item in parse_meta_webhook(payload):
            # a routing failure of its own; once routed, `_meta_item` isolates with the tenant
            await isolated(
                _meta_item(item, msg, deps),
                pool=deps.pool,
                msg=msg,
                provider=Provider.META,
                tenant_id=None,
                item=item,
                provider_message_id=_meta_item_id(item),
            )
        return
    if not msg.tenant_id:
        raise PermanentError("non-Meta webhook without a tenant")
    if msg.provider is Provider.SANDBOX:
        await _sandbox(payload, msg.tenant_id, msg, deps)
        return
    parsed = (
        parse_uazapi_webhook(payload)
        if msg.provider is Provider.UAZAPI
        else parse_lancepilot_webhook(payload)
    )
    if parsed.ignored is not None:
        await _ignored(deps, msg.tenant_id, msg.provider, parsed.ignored, msg.correlation_id)
    for parsed_message in parsed.messages:
        await isolated(
            _parsed_message(parsed_message, msg.tenant_id, msg.instance_id, msg, deps),
            pool=deps.pool,
            msg=msg,
            provider=msg.provider,
            tenant_id=msg.tenant_id,
            item=parsed_message,
            provider_message_id=parsed_message.provider_message_id,
        )


async def _sandbox(payload: Any, tenant_id: str, msg: WebhookReceived, deps: IngestDeps) -> None:
    """A message typed on the console's "Testar o bot" page: the production path from here."""
    try:
        body = SandboxWebhook.model_validate(payload)
    except ValidationError as exc:
        # the console validated it: a body that fails here was not published by the console
        raise PermanentError(f"invalid sandbox webhook: {exc.error_count()} errors") from exc
    await _inbound(sandbox.to_inbound(body, tenant_id), msg, deps)


def _meta_item_id(item: MetaItem) -> str | None:
    if isinstance(item, MetaMessageItem):
        found = item.message.get("id")
    elif isinstance(item, MetaStatusItem):
        found = item.status.get("id")
    else:
        found = None
    return found if isinstance(found, str) else None


async def _meta_item(item: MetaItem, msg: WebhookReceived, deps: IngestDeps) -> None:
    instance = await deps.routes.get(
        (item.phone_number_id, item.display_phone_number),
        lambda: providers_repo.find_meta_instance(
            deps.pool, deps.secrets, item.phone_number_id, item.display_phone_number
        ),
    )
    if instance is None:
        await inbound_repo.record_unrouted(
            deps.pool, "meta", item.phone_number_id or item.display_phone_number, msg.body
        )
        log.warning(
            "webhook_unrouted",
            phone_number_id=item.phone_number_id,
            display_phone_number=item.display_phone_number,
            item=item.item_type,
        )
        return
    tenant_id, instance_id = str(instance["client_id"]), str(instance["id"])
    await isolated(
        _meta_routed(item, tenant_id, instance_id, msg, deps),
        pool=deps.pool,
        msg=msg,
        provider=Provider.META,
        tenant_id=tenant_id,
        item=item,
        provider_message_id=_meta_item_id(item),
    )


async def _meta_routed(
    item: MetaItem, tenant_id: str, instance_id: str, msg: WebhookReceived, deps: IngestDeps
) -> None:
    if isinstance(item, MetaMessageItem):
        await _inbound(
            item.to_inbound(tenant_id, instance_id, received_at=msg.received_at), msg, deps
        )
    elif isinstance(item, MetaStatusItem):
        await _status(item, tenant_id, msg, deps)
    elif isinstance(item, MetaErrorItem):
        await deps.events.append(
            tenant_id,
            ev.WEBHOOK_EVENT,
            {
                "provider": "meta",
                "field": "errors",
                "code": item.code,
                "title": item.title,
            },
            correlation_id=msg.correlation_id,
        )
    elif isinstance(item, MetaFieldEvent):
        await deps.events.append(
            tenant_id,
            ev.WEBHOOK_EVENT,
            {
                "provider": "meta",
                "field": item.field,
                "value": item.value,
            },
            correlation_id=msg.correlation_id,
        )
    else:
        log.info("meta_item_ignored", item=item.item_type, reason=getattr(item, "reason", None))


async def _status(
    item: MetaStatusItem, tenant_id: str, msg: WebhookReceived, deps: IngestDeps
) -> None:
    status = item.to_status(tenant_id, received_at=msg.received_at)
    if not status.provider_message_id:
        return
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await msg_repo.apply_status(
            conn,
            tenant_id,
            provider="meta",
            provider_message_id=status.provider_message_id,
            state=status.state,
            at=status.at,
            error_code=status.error_code,
            error_detail=status.error_title,
            callback_data=status.callback_data,
        )
        if row is not None and status.state.value == "failed":
            await record_event(
                conn,
                tenant_id,
                ev.SEND_FAILED,
                {"provider": "meta", "code": status.error_code, "retryable": False, "async": True},
                conversation_id=str(row["conversation_id"]),
                correlation_id=msg.correlation_id,
            )
    if row is not None:
        await deps.notifier.notify(
            tenant_id,
            str(row["conversation_id"]),
            "message.status",
            message_id=int(row["id"]),
            status=str(row["status"]),
        )


async def _ignored(
    deps: IngestDeps, tenant_id: str, provider: Provider, event: IgnoredEvent, correlation_id: str
) -> None:
    await deps.events.append(
        tenant_id,
        ev.WEBHOOK_EVENT,
        {"provider": provider.value, "event": event.name, **event.detail},
        correlation_id=correlation_id,
    )


async def _parsed_message(
    item: ParsedMessage,
    tenant_id: str,
    instance_id: str | None,
    msg: WebhookReceived,
    deps: IngestDeps,
) -> None:
    if item.own_echo:
        # our own API send, already stored by the sender; it names its row (`track_id`),
        # which settles a send whose answer the sender never saw
        INBOUND.labels(item.provider.value, "own_echo").inc()
        await _reconcile_own_echo(item, tenant_id, msg, deps)
        return
    await _inbound(item.to_inbound(tenant_id, instance_id), msg, deps)


async def _reconcile_own_echo(
    item: ParsedMessage, tenant_id: str, msg: WebhookReceived, deps: IngestDeps
) -> None:
    track = str(item.attributes.get("track_id") or "")
    if item.attributes.get("track_source") != OUR_TRACK_SOURCE or not track.isdigit():
        return
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await outbox_repo.reconcile_own_echo(
            conn, tenant_id, item.provider.value, int(track), item.provider_message_id
        )
        if row is None or row["was"] != "unknown":
            return
        # the sender never recorded it: the send it could not confirm is counted now
        await record_event(
            conn,
            tenant_id,
            ev.MSG_SENT,
            {
                "provider": item.provider.value,
                "kind": row["kind"],
                "role": row["role"],
                "reconciled": "echo",
            },
            conversation_id=str(row["conversation_id"]),
            correlation_id=msg.correlation_id,
        )
    log.info("own_echo_reconciled", outbound_id=int(track), was=row["was"])


async def _inbound(inbound: InboundMessage, msg: WebhookReceived, deps: IngestDeps) -> None:
    client = await deps.tenant_directory.get(inbound.tenant_id)
    if client is None:
        return
    async with deps.pool.acquire() as conn:
        # the common message is one statement with no transaction around it
        plain = await store_plain(conn, inbound, client, correlation_id=msg.correlation_id)
        if plain is not None:
            outcome = plain
        else:
            async with conn.transaction():
                outcome = await process_inbound(
                    conn, inbound, client, correlation_id=msg.correlation_id
                )
        if outcome.reason == "duplicate":
            await resume_buffered(conn, inbound, client, outcome)
    INBOUND.labels(inbound.provider.value, outcome.reason or "buffered").inc()
    log.info(
        "inbound_processed",
        tenant_id=inbound.tenant_id,
        conversation_id=outcome.conversation_id,
        provider_message_id=inbound.provider_message_id,
        outcome=outcome.reason or "buffered",
    )
    await _after_commit(inbound, outcome, msg, deps)


async def resume_buffered(
    conn: Conn,
    inbound: InboundMessage,
    client: TenantConfig,
    outcome: InboundOutcome,
) -> None:
    """A redelivered message whose first delivery stored it but failed to buffer it.

    An outage between the commit and the Redis add (or the burst publish) fails the first
    delivery after its row is `buffered`; the redelivery finds the row stored and would
    otherwise leave it to `Debouncer.recover` minutes later. Buffering again is safe: the
    add ignores a message already buffered or in flight, a flush keeps only rows still
    `buffered`, and a re-published burst has the same burst id.
    """
    row = await inbound_repo.buffered_inbound(
        conn, inbound.tenant_id, inbound.provider.value, inbound.provider_message_id
    )
    if row is None:
        return
    outcome.stored_id = int(row["id"])
    outcome.conversation_id = str(row["conversation_id"])
    outcome.buffer = True
    outcome.debounce = debounce_config(inbound.provider, client.debounce)
    outcome.reason = "duplicate_rebuffered"


async def _after_commit(
    inbound: InboundMessage, outcome: InboundOutcome, msg: WebhookReceived, deps: IngestDeps
) -> None:
    await _notify(inbound.tenant_id, outcome, deps)
    for outbound_id in outcome.outbound_ids:
        await deps.publisher.publish(
            SendReply(
                tenant_id=inbound.tenant_id,
                correlation_id=msg.correlation_id,
                conversation_id=outcome.conversation_id or "",
                outbound_id=outbound_id,
                origin="system",
            ),
            exchange=PIPELINE,
        )
    if outcome.buffer and outcome.stored_id is not None and outcome.debounce is not None:
        if outcome.debounce.quiet_ms == 0:
            await deps.debouncer.flush_now(
                inbound.tenant_id,
                outcome.conversation_id or "",
                outcome.stored_id,
                inbound.sent_at,
                lambda burst: publish_burst(burst, publisher=deps.publisher),
            )
            return
        # if Redis is down here the `buffered` row is recovered into the buffer later
        await deps.debouncer.add(
            inbound.tenant_id,
            outcome.conversation_id or "",
            outcome.stored_id,
            inbound.text,
            inbound.sent_at,
            outcome.debounce,
        )


async def _notify(tenant_id: str, outcome: InboundOutcome, deps: IngestDeps) -> None:
    """What the console shows live: the stored message, command replies, state changes."""
    cid = outcome.conversation_id
    if cid is None or outcome.stored_id is None:
        return
    await deps.notifier.notify(tenant_id, cid, "message.created", message_id=outcome.stored_id)
    for outbound_id in outcome.outbound_ids:
        await deps.notifier.notify(tenant_id, cid, "message.created", message_id=outbound_id)
    if outcome.reason.startswith("command_") or outcome.reason == "human_message":
        await deps.notifier.notify(tenant_id, cid, "conversation.updated", cause=outcome.reason)


async def publish_burst(burst: Burst, *, publisher: Publisher) -> None:
    """The debounce buffer flushed: hand the burst to the rag-worker (with a confirm)."""
    await publisher.publish(
        BurstReady(
            tenant_id=burst.tenant_id,
            conversation_id=burst.conversation_id,
            burst_id=burst.burst_id,
            message_ids=list(burst.message_ids),
            first_message_at=burst.first_message_at,
            correlation_id=burst.burst_id,
        ),
        exchange=PIPELINE,
    )


# one handler per message type the ingest consumes (`wacommon.broker.dispatch`)
HANDLERS: dict[type[Envelope], MessageHandler[IngestDeps]] = {
    WebhookReceived: handle_webhook_received
}
