"""Message schemas: a versioned envelope and the pipeline's messages.

Within a schema version only additive changes are allowed. Events are named in
the past tense, commands in the imperative.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wacommon.infra.textclean import loads_untrusted


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the schemas use."""
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Provider(StrEnum):
    META = "meta"
    LANCEPILOT = "lancepilot"
    UAZAPI = "uazapi"
    SANDBOX = "sandbox"


class SenderRole(StrEnum):
    """Who wrote a message, seen from the conversation."""

    CUSTOMER = "customer"
    BOT = "bot"
    HUMAN = "human"
    CAMPAIGN = "campaign"
    SYSTEM = "system"


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    POLL = "poll"
    UNSUPPORTED = "unsupported"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Contact(Frozen):
    """The customer. `key` is what a conversation is keyed on (phone, else a provider id)."""

    key: str
    phone: str | None = None
    name: str | None = None
    provider_ids: dict[str, str] = Field(default_factory=dict)


class MediaRef(Frozen):
    """Where to fetch an inbound media object from its provider."""

    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None
    voice: bool = False
    size_bytes: int | None = None
    seconds: float | None = None


class InboundMessage(Frozen):
    """One provider message normalised; the same shape for Meta, LancePilot and Uazapi."""

    provider: Provider
    instance_id: str | None = None
    tenant_id: str
    contact: Contact
    provider_message_id: str
    kind: MessageKind
    text: str = ""
    media: MediaRef | None = None
    sent_at: datetime
    sender: SenderRole = SenderRole.CUSTOMER
    reply_to: str | None = None
    is_group: bool = False
    # Provider-specific facts the pipeline may use (referral, campaign, edit of, ...)
    attributes: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    DROPPED = "dropped"
    # sent or not, nobody knows (no delivery callback): never resent, a person decides
    UNKNOWN = "unknown"


class StatusUpdate(Frozen):
    """A provider delivery receipt for one of our outbound messages."""

    provider: Provider
    tenant_id: str
    provider_message_id: str
    state: DeliveryState
    at: datetime
    recipient: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    callback_data: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class Envelope(Frozen):
    """Every message on the bus carries these fields.

    `type` is what `wacommon.broker.envelope.decode` dispatches on; each message class pins
    it with a Literal. Routing keys are derived from it in `wacommon.broker.topology`.
    """

    type: str
    schema_version: int = 1
    message_id: str = Field(default_factory=new_id)
    correlation_id: str = Field(default_factory=new_id)
    tenant_id: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)


_NOT_PARSED = object()


class WebhookReceived(Envelope):
    """A provider webhook accepted at the edge: raw body kept, parsing happens downstream."""

    type: Literal["webhook.received"] = "webhook.received"
    provider: Provider
    instance_id: str | None = None
    received_at: datetime = Field(default_factory=utcnow)
    body: str

    # the body's parse, kept so that the edge's checks, the shard key and the handler share
    # one: a plain slot, not a pydantic private attribute (those cost microseconds per
    # message on the gateway's hot path), so it is never on the wire, never compared
    __slots__ = ("_parsed",)

    @classmethod
    def of_raw(
        cls,
        provider: Provider,
        raw: bytes,
        *,
        tenant_id: str | None = None,
        instance_id: str | None = None,
    ) -> WebhookReceived:
        """The envelope of a raw webhook body, parsed once here (ValueError: not JSON)."""
        payload = loads_untrusted(raw)
        # the gateway's hot path: both ids from one urandom call, one clock read
        now, ids = utcnow(), os.urandom(32).hex()
        message = cls(
            provider=provider,
            tenant_id=tenant_id,
            instance_id=instance_id,
            body=raw.decode("utf-8", "replace"),
            message_id=ids[:32],
            correlation_id=ids[32:],
            occurred_at=now,
            received_at=now,
        )
        object.__setattr__(message, "_parsed", payload)
        return message

    def payload(self) -> Any:
        """The body as JSON with storable strings; parsed on first use only (ValueError)."""
        parsed = getattr(self, "_parsed", _NOT_PARSED)
        if parsed is _NOT_PARSED:
            parsed = loads_untrusted(self.body)
            object.__setattr__(self, "_parsed", parsed)
        return parsed


class BurstReady(Envelope):
    """The customer stopped typing: these stored messages are answered as one unit."""

    type: Literal["conversation.burst_ready"] = "conversation.burst_ready"
    conversation_id: str
    burst_id: str
    message_ids: list[int]
    first_message_at: datetime


class SendReply(Envelope):
    """Deliver one stored outbound message (a `chat_messages` row) through its provider."""

    type: Literal["reply.send"] = "reply.send"
    conversation_id: str
    outbound_id: int
    # bot replies are re-checked against the conversation state before sending;
    # operator, console (human) and follow-up sends say so here
    origin: Literal["bot", "followup", "reminder", "operator", "system", "human"] = "bot"


def message_type(cls: type[Envelope]) -> str:
    """The `type` a message class carries on the wire."""
    return str(cls.model_fields["type"].default)
