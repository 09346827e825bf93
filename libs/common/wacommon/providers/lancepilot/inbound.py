"""LancePilot webhooks: envelope check and parsing into normalised messages.

No LancePilot webhook has been captured publicly: the accepted contract (fields read,
fallbacks, what is inferred) is written in docs/providers/lancepilot.md. Every lookup
is optional; the raw body is always kept so a misread message can be re-parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wacommon.broker.schemas import Contact, MediaRef, MessageKind, Provider, SenderRole, utcnow
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.normalised import (
    IgnoredEvent,
    ParsedMessage,
    as_dict,
    digits,
    epoch_to_datetime,
    number,
    stable_id,
    text_of,
)

INCOMING = "message.incoming"
OUTGOING = "message.outgoing"
_KINDS: dict[str, MessageKind] = {kind.value: kind for kind in MessageKind}
_KINDS.update(
    {
        "voice": MessageKind.AUDIO,
        "ptt": MessageKind.AUDIO,
        "file": MessageKind.DOCUMENT,
        "contact": MessageKind.CONTACTS,
        "vcard": MessageKind.CONTACTS,
        "template": MessageKind.TEXT,
        "list_reply": MessageKind.INTERACTIVE,
        "button_reply": MessageKind.INTERACTIVE,
    }
)
_MEDIA_KINDS = frozenset(
    {
        MessageKind.IMAGE,
        MessageKind.AUDIO,
        MessageKind.VIDEO,
        MessageKind.DOCUMENT,
        MessageKind.STICKER,
    }
)
_CAMPAIGN_SOURCES = frozenset({"campaign", "broadcast", "bulk", "automation"})
_ID_KEYS = ("wamid", "message_id", "messageId", "provider_message_id", "whatsapp_id", "id")
DERIVED_ID_WINDOW_S = 120
_TIME_KEYS = ("timestamp", "sent_at", "created_at", "createdAt", "date", "time")


@dataclass(frozen=True)
class LancePilotParsed:
    """One LancePilot webhook: the business number it names and messages or an ignored event."""

    event: str
    business_number: str | None
    messages: tuple[ParsedMessage, ...] = ()
    ignored: IgnoredEvent | None = None


def check_lancepilot_envelope(payload: object) -> dict[str, Any]:
    """Return `payload` if it is a LancePilot webhook envelope, else raise InvalidWebhookPayload."""
    if not isinstance(payload, dict):
        raise InvalidWebhookPayload("body is not a JSON object")
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        raise InvalidWebhookPayload("missing event")
    data = payload.get("data")
    if event in (INCOMING, OUTGOING) and not isinstance(data, dict):
        raise InvalidWebhookPayload("message event without a data object")
    return payload


def parse_lancepilot_webhook(
    payload: dict[str, Any], *, received_at: datetime | None = None
) -> LancePilotParsed:
    """Normalise one webhook body; never raises on unknown shapes."""
    event = str(payload.get("event") or "")
    data = as_dict(payload.get("data"))
    attrs = as_dict(data.get("attributes"))
    if event not in (INCOMING, OUTGOING):
        name = event.replace(".", "_") or "unknown"
        return LancePilotParsed(event, digits(attrs.get("to")), ignored=IgnoredEvent(name))
    incoming = event == INCOMING
    business = digits(attrs.get("to") if incoming else attrs.get("from"))
    message = _message(payload, data, attrs, incoming, received_at or utcnow())
    return LancePilotParsed(event, business, messages=(message,))


def _message(
    payload: dict[str, Any],
    data: dict[str, Any],
    attrs: dict[str, Any],
    incoming: bool,
    received_at: datetime,
) -> ParsedMessage:
    msg = as_dict(attrs.get("message"))
    type_name = str(msg.get("type") or "text").lower()
    kind = _KINDS.get(type_name, MessageKind.UNSUPPORTED)
    campaign = _campaign(data, attrs, msg)
    source = str(attrs.get("source") or "").lower()
    sender, own_echo = _sender(incoming, source, campaign)
    attributes: dict[str, Any] = {"event": payload.get("event"), "message_type": type_name}
    if source:
        attributes["source"] = source
    if campaign:
        attributes["campaign"] = campaign
    if type_name == "template" and as_dict(msg.get("template")):
        attributes["template"] = msg["template"]
    sent_at = _timestamp(attrs, msg)
    if sent_at is None:
        attributes["timestamp_missing"] = True
    message_id = _message_id(data, attrs, msg)
    if message_id is None:
        attributes["message_id_derived"] = True
        # with no id and no timestamp, a retry and a repeated "ok" look the same: only
        # bodies received within one window are treated as duplicates
        window = None if sent_at else int(received_at.timestamp() // DERIVED_ID_WINDOW_S)
        message_id = stable_id("lp-", [payload, window])
    return ParsedMessage(
        provider=Provider.LANCEPILOT,
        contact=_contact(data, attrs, incoming),
        provider_message_id=message_id,
        kind=kind,
        sent_at=sent_at or received_at,
        sender=sender,
        text=_text(msg, type_name),
        media=_media(msg, type_name, kind),
        reply_to=text_of(as_dict(msg.get("context")).get("id")),
        own_echo=own_echo,
        attributes=attributes,
        raw=payload,
    )


def _sender(
    incoming: bool, source: str, campaign: dict[str, Any] | None
) -> tuple[SenderRole, bool]:
    if incoming:
        return SenderRole.CUSTOMER, False
    if source == "app":
        return SenderRole.HUMAN, False
    if campaign or source in _CAMPAIGN_SOURCES:
        return SenderRole.CAMPAIGN, False
    # "api", missing or unknown: our own send echoed (as the one production parser does)
    return SenderRole.BOT, True


def _contact(data: dict[str, Any], attrs: dict[str, Any], incoming: bool) -> Contact:
    contact = as_dict(as_dict(data.get("relationships")).get("contact"))
    contact_attrs = as_dict(contact.get("attributes")) or as_dict(contact.get("data"))
    counterpart = attrs.get("from") if incoming else attrs.get("to")
    phone = digits(contact_attrs.get("number")) or digits(counterpart)
    ids: dict[str, str] = {}
    contact_id = contact.get("id") or as_dict(contact.get("data")).get("id")
    if isinstance(contact_id, str | int) and not isinstance(contact_id, bool):
        ids["contact_id"] = str(contact_id)
    name = text_of(contact_attrs.get("name")) or text_of(attrs.get("contact_name"))
    return Contact(
        key=phone or ids.get("contact_id", "unknown"), phone=phone, name=name, provider_ids=ids
    )


def _text(msg: dict[str, Any], type_name: str) -> str:
    body = msg.get("body")
    if text_of(body):
        return str(body)
    text = msg.get("text")
    if text_of(text):
        return str(text)
    nested = text_of(as_dict(text).get("body"))
    if nested:
        return nested
    part = as_dict(msg.get(type_name))
    return (
        text_of(part.get("caption"))
        or text_of(part.get("body"))
        or text_of(part.get("title"))
        or ""
    )


def _media(msg: dict[str, Any], type_name: str, kind: MessageKind) -> MediaRef | None:
    if kind not in _MEDIA_KINDS:
        return None
    part = as_dict(msg.get(type_name))
    size = number(part.get("size") or part.get("file_size"))
    return MediaRef(
        media_id=text_of(part.get("id")),
        # a plain downloadable URL, unlike Uazapi's encrypted CDN links
        url=text_of(part.get("value")) or text_of(part.get("url")) or text_of(part.get("link")),
        mime_type=text_of(part.get("mime_type")) or text_of(part.get("mimetype")),
        filename=text_of(part.get("filename")) or text_of(part.get("name")),
        voice=kind is MessageKind.AUDIO
        and (type_name in ("voice", "ptt") or part.get("voice") is True),
        size_bytes=int(size) if size is not None else None,
    )


def _message_id(data: dict[str, Any], attrs: dict[str, Any], msg: dict[str, Any]) -> str | None:
    for source in (msg, attrs):
        for key in _ID_KEYS:
            value = source.get(key)
            if text_of(value) or (isinstance(value, int) and not isinstance(value, bool)):
                return str(value)
    value = data.get("id")
    return str(value) if text_of(value) or isinstance(value, int) else None


def _timestamp(attrs: dict[str, Any], msg: dict[str, Any]) -> datetime | None:
    for source in (msg, attrs):
        for key in _TIME_KEYS:
            value = source.get(key)
            if value is None:
                continue
            parsed = epoch_to_datetime(value) or _iso(value)
            if parsed is not None:
                return parsed
    return None


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _campaign(
    data: dict[str, Any], attrs: dict[str, Any], msg: dict[str, Any]
) -> dict[str, Any] | None:
    """Campaign id/name wherever the payload carries it (inferred locations, see the docs)."""
    relationship = as_dict(as_dict(data.get("relationships")).get("campaign"))
    candidates: list[object] = [
        attrs.get("campaign"),
        msg.get("campaign"),
        as_dict(attrs.get("context")).get("campaign"),
        relationship.get("data") or relationship or None,
    ]
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate:
            inner = as_dict(candidate.get("attributes"))
            cid = candidate.get("id") or inner.get("id")
            name = candidate.get("name") or inner.get("name")
            if cid is not None or name is not None:
                return {"id": None if cid is None else str(cid), "name": name}
        elif text_of(candidate) or (isinstance(candidate, int) and not isinstance(candidate, bool)):
            return {"id": str(candidate), "name": None}
    cid = attrs.get("campaign_id") or msg.get("campaign_id")
    name = attrs.get("campaign_name") or msg.get("campaign_name")
    if cid is not None or name is not None:
        return {"id": None if cid is None else str(cid), "name": name}
    return None
