"""Meta WhatsApp Cloud API webhooks: parsing (the checks before it are in `meta_webhook_checks`).

`parse_meta_webhook` walks every entry x change x value.{messages, statuses, errors}
and yields one routed item per update; it never raises on JSON inside a valid envelope.

Contact key: the phone number (`from` / `wa_id`) when Meta sends one, else the
business-scoped user id (`from_user_id` / `user_id`, usernames from 2026). Phone
first keeps conversations stable with the other providers, which key on phones;
`Contact.provider_ids` carries both so a later merge can join them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from wacommon.broker.schemas import (
    Contact,
    DeliveryState,
    InboundMessage,
    MessageKind,
    Provider,
    SenderRole,
    StatusUpdate,
    utcnow,
)
from wacommon.providers.meta.content import (
    as_datetime,
    as_dict,
    as_list,
    as_str,
    error_summaries,
    message_content,
)

_MESSAGE_KEYS = ("messages", "statuses", "errors")
STATUS_STATES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "played": DeliveryState.PLAYED,
    "failed": DeliveryState.FAILED,
}


@dataclass(frozen=True, slots=True)
class MetaItem:
    """One update from a webhook POST, with the route that names its tenant."""

    item_type: ClassVar[str] = "item"
    phone_number_id: str | None
    display_phone_number: str | None
    waba_id: str | None
    field: str


@dataclass(frozen=True, slots=True)
class MetaMessageItem(MetaItem):
    """A customer message (or, for `smb_message_echoes`, one a human sent from the app)."""

    item_type: ClassVar[str] = "message"
    message: dict[str, Any]
    contact: dict[str, Any]
    echo: bool = False

    @property
    def provider_message_id(self) -> str:
        """The wamid; a stable digest of the message when Meta sent no id."""
        wamid = as_str(self.message.get("id"))
        if wamid:
            return wamid
        canonical = json.dumps(self.message, sort_keys=True, default=str).encode()
        return "noid." + hashlib.sha256(canonical).hexdigest()[:32]

    def to_contact(self) -> Contact:
        """The customer: keyed on the phone when present, else on the BSUID."""
        card = self.contact
        phone, user_id = _customer_ids(self.message, self.echo)
        phone = (phone or as_str(card.get("wa_id")) or "").lstrip("+") or None
        user_id = user_id or as_str(card.get("user_id"))
        profile = as_dict(card.get("profile"))
        ids = {
            "wa_id": phone,
            "user_id": user_id,
            "parent_user_id": as_str(card.get("parent_user_id")),
            "username": as_str(profile.get("username")),
        }
        return Contact(
            key=phone or user_id or "",
            phone=phone,
            name=as_str(profile.get("name")),
            provider_ids={k: v for k, v in ids.items() if v},
        )

    def to_inbound(
        self, tenant_id: str, instance_id: str | None = None, *, received_at: datetime | None = None
    ) -> InboundMessage:
        """Normalise to the pipeline's InboundMessage (never raises on odd content)."""
        content = message_content(self.message)
        sender = SenderRole.HUMAN if self.echo else SenderRole.CUSTOMER
        if content.kind is MessageKind.SYSTEM:
            sender = SenderRole.SYSTEM
        attributes = dict(content.attributes)
        attributes["route"] = {
            "phone_number_id": self.phone_number_id,
            "display_phone_number": self.display_phone_number,
            "waba_id": self.waba_id,
        }
        return InboundMessage(
            provider=Provider.META,
            instance_id=instance_id,
            tenant_id=tenant_id,
            contact=self.to_contact(),
            provider_message_id=self.provider_message_id,
            kind=content.kind,
            text=content.text,
            media=content.media,
            sent_at=as_datetime(self.message.get("timestamp")) or received_at or utcnow(),
            sender=sender,
            reply_to=content.reply_to,
            is_group=bool(as_str(self.message.get("group_id"))),
            attributes=attributes,
            raw=self.message,
        )


@dataclass(frozen=True, slots=True)
class MetaStatusItem(MetaItem):
    """A delivery receipt for one of our outbound messages."""

    item_type: ClassVar[str] = "status"
    status: dict[str, Any]
    state: DeliveryState

    def to_status(self, tenant_id: str, *, received_at: datetime | None = None) -> StatusUpdate:
        """Normalise to StatusUpdate; the first `errors[]` entry gives the error code."""
        st = self.status
        first_error = next(iter(error_summaries(st.get("errors"))), {})
        return StatusUpdate(
            provider=Provider.META,
            tenant_id=tenant_id,
            provider_message_id=as_str(st.get("id")) or "",
            state=self.state,
            at=as_datetime(st.get("timestamp")) or received_at or utcnow(),
            recipient=as_str(st.get("recipient_id")) or as_str(st.get("recipient_user_id")),
            error_code=first_error.get("code"),
            error_title=first_error.get("title"),
            callback_data=as_str(st.get("biz_opaque_callback_data")),
            raw=st,
        )


@dataclass(frozen=True, slots=True)
class MetaErrorItem(MetaItem):
    """An out-of-band `value.errors[]` entry (e.g. 130429 throughput hit)."""

    item_type: ClassVar[str] = "error"
    error: dict[str, Any]

    @property
    def code(self) -> str | None:
        return as_str(self.error.get("code"))

    @property
    def title(self) -> str | None:
        return as_str(self.error.get("title")) or as_str(self.error.get("message"))


@dataclass(frozen=True, slots=True)
class MetaFieldEvent(MetaItem):
    """A change for a field other than `messages` (account_update, template status, ...)."""

    item_type: ClassVar[str] = "field"
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MetaIgnoredItem(MetaItem):
    """Something in the envelope that cannot be normalised; log it and move on."""

    item_type: ClassVar[str] = "ignored"
    reason: str
    raw: object


def parse_meta_webhook(payload: dict[str, Any]) -> list[MetaItem]:
    """Every message, status, error and field event of a webhook body, each with its route."""
    items: list[MetaItem] = []
    for entry in as_list(payload.get("entry")):
        entry = as_dict(entry)
        waba_id = as_str(entry.get("id"))
        for change in as_list(entry.get("changes")):
            if isinstance(change, dict):
                items.extend(_parse_change(waba_id, change))
            else:
                items.append(MetaIgnoredItem(None, None, waba_id, "", "change_not_object", change))
    return items


def _parse_change(waba_id: str | None, change: dict[str, Any]) -> list[MetaItem]:
    value = as_dict(change.get("value"))
    field = as_str(change.get("field")) or ""
    if not field and any(k in value for k in _MESSAGE_KEYS):
        field = "messages"  # a change without `field` but with a messages-shaped value
    metadata = as_dict(value.get("metadata"))
    route = (
        as_str(metadata.get("phone_number_id")) or as_str(value.get("phone_number_id")),
        as_str(metadata.get("display_phone_number")),
        waba_id,
        field,
    )
    if field == "smb_message_echoes":
        return [_message(route, m, value, echo=True) for m in as_list(value.get("message_echoes"))]
    if not field:
        return [MetaIgnoredItem(*route, reason="change_without_field", raw=change)]
    if field != "messages":
        return [MetaFieldEvent(*route, value=value)]
    items = [_message(route, m, value) for m in as_list(value.get("messages"))]
    items += [_status(route, s) for s in as_list(value.get("statuses"))]
    items += [MetaErrorItem(*route, error=as_dict(e)) for e in as_list(value.get("errors"))]
    return items


Route = tuple[str | None, str | None, str | None, str]


def _message(
    route: Route, message: object, value: dict[str, Any], *, echo: bool = False
) -> MetaItem:
    if not isinstance(message, dict):
        return MetaIgnoredItem(*route, reason="message_not_object", raw=message)
    card = _match_contact(*_customer_ids(message, echo), value, echo)
    item = MetaMessageItem(*route, message=message, contact=card, echo=echo)
    if not item.to_contact().key:
        return MetaIgnoredItem(*route, reason="message_without_sender", raw=message)
    return item


def _customer_ids(message: dict[str, Any], echo: bool) -> tuple[str | None, str | None]:
    """(phone, BSUID) of the customer: the sender, or the recipient of an echo."""
    if echo:
        return as_str(message.get("to")), as_str(message.get("to_user_id"))
    return as_str(message.get("from")), as_str(message.get("from_user_id"))


def _match_contact(
    phone: str | None, user_id: str | None, value: dict[str, Any], echo: bool
) -> dict[str, Any]:
    cards = [c for c in as_list(value.get("contacts")) if isinstance(c, dict)]
    for card in cards:
        if (phone and as_str(card.get("wa_id")) == phone) or (
            user_id and as_str(card.get("user_id")) == user_id
        ):
            return card
    return cards[0] if len(cards) == 1 and not echo else {}


def _status(route: Route, status: object) -> MetaItem:
    if not isinstance(status, dict):
        return MetaIgnoredItem(*route, reason="status_not_object", raw=status)
    state = STATUS_STATES.get(as_str(status.get("status")) or "")
    if state is None or not as_str(status.get("id")):
        return MetaIgnoredItem(*route, reason="status_unknown", raw=status)
    return MetaStatusItem(*route, status=status, state=state)
