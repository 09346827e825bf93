"""Per-conversation shards: one conversation's work goes to one shard queue, always.

Every step that acts on a conversation (ingest's store and debounce, the rag-worker's
turn, the sender's bubbles) consumes `<queue>.shard.<i>` quorum queues declared with
`x-single-active-consumer`: the broker delivers a shard's messages to one consumer at a
time, in order, and the consumers hold one unacked message per shard (prefetch 1), so
two messages of one conversation are never handled at once, whatever the replica count.
Different conversations land on different shards and run in parallel.

The shard is a stable hash of the conversation's key, computed by the publisher: the
tenant and conversation id for pipeline messages, the tenant and the customer's address
read from the raw provider body for webhooks (ingest has no conversation id yet). A key
that cannot be read falls back to the tenant, which is still correct, only less parallel.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from wacommon.broker.schemas import Envelope, WebhookReceived
from wacommon.infra.settings import Settings
from wacommon.infra.textclean import loads_untrusted

SHARDS = "wa.shards"  # direct exchange: routing key `<queue>.shard.<i>` -> that shard queue


def shard_queue(queue: str, shard: int) -> str:
    """The unprefixed name of one shard queue of a work queue."""
    return f"{queue}.shard.{shard}"


def shard_of(key: str, shards: int) -> int:
    """A stable shard for a key (crc32: the same in every process and every release)."""
    return zlib.crc32(key.encode("utf-8")) % shards


def assigned_shards(index: int, count: int, shards: int) -> list[int]:
    """The shards replica `index` of `count` consumes first (round robin, all covered)."""
    if count <= 0:
        return list(range(shards))
    return [s for s in range(shards) if s % count == index % count]


def envelope_key(message: Envelope) -> str:
    """The conversation of a message object (a webhook's body parsed once, or not at all)."""
    tenant = message.tenant_id or ""
    if isinstance(message, WebhookReceived):
        try:
            contact = payload_contact(message.payload())
        except ValueError:
            contact = ""
        return f"{tenant}:{message.instance_id or ''}:{contact}"
    # the fields, not getattr: a missing attribute costs pydantic an exception
    conversation = message.__dict__.get("conversation_id")
    return f"{tenant}:{conversation}" if conversation else tenant


def conversation_key(body: bytes) -> str:
    """The conversation of a prepared bus body (a replay, a redrive); `envelope_key`'s value."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(doc, dict):
        return ""
    tenant = str(doc.get("tenant_id") or "")
    conversation = doc.get("conversation_id")
    if conversation:
        return f"{tenant}:{conversation}"
    raw = doc.get("body")
    if isinstance(raw, str):
        return f"{tenant}:{doc.get('instance_id') or ''}:{webhook_contact(raw)}"
    return tenant


def webhook_contact(raw: str) -> str:
    """The customer's address in a raw provider webhook (Meta, Uazapi, LancePilot)."""
    try:
        # the parse `WebhookReceived.payload` makes: a body reaches the same shard either way
        payload = loads_untrusted(raw)
    except ValueError:
        return ""
    return payload_contact(payload)


def payload_contact(payload: Any) -> str:
    """The customer's address in a parsed provider webhook ("" if none is found)."""
    if not isinstance(payload, dict):
        return ""
    return _meta(payload) or _uazapi(payload) or _lancepilot(payload)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> dict[str, Any]:
    return _dict(value[0]) if isinstance(value, list) and value else {}


def _meta(payload: dict[str, Any]) -> str:
    change = _first(_first(payload.get("entry")).get("changes"))
    value = _dict(change.get("value"))
    if not value:
        return ""
    phone_id = str(_dict(value.get("metadata")).get("phone_number_id") or "")
    # the customer: the sender of a message, the recipient of an echo or a status
    who = (
        _first(value.get("messages")).get("from")
        or _first(value.get("message_echoes")).get("to")
        or _first(value.get("statuses")).get("recipient_id")
        or _first(value.get("contacts")).get("wa_id")
    )
    return f"{phone_id}:{who or ''}"


def _uazapi(payload: dict[str, Any]) -> str:
    msg = _dict(payload.get("message"))
    chat = _dict(payload.get("chat"))
    chat_id = msg.get("chatid") or chat.get("wa_chatid")
    return str(chat_id or "")


def _lancepilot(payload: dict[str, Any]) -> str:
    attrs = _dict(_dict(payload.get("data")).get("attributes"))
    if not attrs:
        return ""
    incoming = str(payload.get("event") or "").endswith("incoming")
    ends = (attrs.get("to"), attrs.get("from"))
    business, customer = ends if incoming else ends[::-1]
    return f"{business or ''}:{customer or ''}"


def route(
    settings: Settings, exchange: str, routing_key: str, body: bytes, *, key: str | None = None
) -> tuple[str, str] | None:
    """The shard exchange and key for a message published to a sharded work queue.

    None when the message is not for a sharded queue (or sharding is off): it goes where
    it was addressed. `key`: the conversation key when the publisher has it from the
    message object (`envelope_key`); otherwise it is read from `body`.
    """
    from wacommon.broker import topology

    if settings.broker_shards <= 0:
        return None
    # replays and DLQ redrives address the work queue through the requeue exchange: they go
    # to the conversation's shard too, so they never run beside its live messages; through
    # the requeue exchange (each shard is bound there by name), not `wa.shards`, whose
    # ingest shards are also bound into `ingest.log`: a replay must not log itself again
    requeued = topology.requeued_queue_for(settings, exchange, routing_key)
    if requeued is not None:
        shard = shard_of(conversation_key(body) if key is None else key, settings.broker_shards)
        return topology.REQUEUE, shard_queue(settings.q(requeued), shard)
    queue = topology.sharded_queue_for(exchange, routing_key)
    if queue is None:
        return None
    shard = shard_of(conversation_key(body) if key is None else key, settings.broker_shards)
    return SHARDS, shard_queue(settings.q(queue), shard)
