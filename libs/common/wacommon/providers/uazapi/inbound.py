"""Uazapi (uazapiGO v2) webhooks: envelope check and parsing into normalised messages.

Real deliveries are flat (`EventType`, `token`, `owner`, `chat`, `message`), not the
OpenAPI `{event, instance, data}` shape. Field lookups are all optional: a shape we do
not know becomes an UNSUPPORTED message with the raw body kept, never an exception.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wacommon.broker.schemas import Contact, Provider, SenderRole, utcnow
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.normalised import (
    IgnoredEvent,
    ParsedMessage,
    as_dict,
    digits,
    epoch_to_datetime,
    stable_id,
    text_of,
)
from wacommon.providers.uazapi.content import (
    attributes_for,
    kind_of,
    media_for,
    message_id_of,
    reply_to_for,
    text_for,
)

# our sends carry it (`track_source`, with the outbox row id as `track_id`); Uazapi echoes both
# in the webhook of the sent message
TRACK_SOURCE = "wa-assistant"
_GROUP_CHANGES = ("Leave", "Join", "Promote", "Demote", "Name", "Topic", "Announce", "Locked")


@dataclass(frozen=True)
class UazapiParsed:
    """One Uazapi webhook: its identity fields and either messages or an ignorable event."""

    event_type: str
    token: str | None
    owner: str | None
    instance_name: str | None
    base_url: str | None
    messages: tuple[ParsedMessage, ...] = ()
    ignored: IgnoredEvent | None = None


def check_uazapi_envelope(payload: object) -> dict[str, Any]:
    """Return `payload` if it is a Uazapi webhook envelope, else raise InvalidWebhookPayload."""
    if not isinstance(payload, dict):
        raise InvalidWebhookPayload("body is not a JSON object")
    event_type = payload.get("EventType")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidWebhookPayload("missing EventType")
    token = payload.get("token")
    if token is not None and not isinstance(token, str):
        raise InvalidWebhookPayload("token is not a string")
    if event_type == "messages" and not isinstance(payload.get("message"), dict):
        raise InvalidWebhookPayload("messages event without a message object")
    return payload


def token_matches(body_token: str | None, expected: str | None) -> bool:
    """Constant-time comparison of the body `token` with the stored instance token."""
    if not body_token or not expected:
        return False
    return hmac.compare_digest(body_token.encode(), expected.encode())


def parse_uazapi_webhook(
    payload: dict[str, Any], *, received_at: datetime | None = None
) -> UazapiParsed:
    """Normalise one webhook body; never raises on unknown shapes."""
    event_type = str(payload.get("EventType") or "")
    message = payload.get("message")
    messages: tuple[ParsedMessage, ...] = ()
    ignored: IgnoredEvent | None = None
    if event_type.lower() != "messages":
        ignored = _ignored_event(event_type, payload)
    elif not isinstance(message, dict):
        ignored = IgnoredEvent("messages_without_message")
    else:
        messages = (_message(payload, message, received_at or utcnow()),)
    return UazapiParsed(
        event_type=event_type,
        token=text_of(payload.get("token")),
        owner=digits(payload.get("owner")),
        instance_name=text_of(payload.get("instanceName")),
        base_url=text_of(payload.get("BaseUrl")),
        messages=messages,
        ignored=ignored,
    )


def _ignored_event(event_type: str, payload: dict[str, Any]) -> IgnoredEvent:
    name = event_type.lower() or "unknown"
    if name == "connection":
        instance = as_dict(payload.get("instance"))
        detail = {
            "status": instance.get("status"),
            "reason": instance.get("lastDisconnectReason"),
            "type": payload.get("type"),
        }
        return IgnoredEvent("connection", {k: v for k, v in detail.items() if v})
    if name == "groups":
        event = as_dict(payload.get("event"))
        changes = [key.lower() for key in _GROUP_CHANGES if event.get(key)]
        suffix = changes[0] if changes else "update"
        return IgnoredEvent(f"groups_{suffix}", {"group": event.get("JID"), "changes": changes})
    return IgnoredEvent(name)


def _message(payload: dict[str, Any], msg: dict[str, Any], received_at: datetime) -> ParsedMessage:
    chat = as_dict(payload.get("chat"))
    content = msg.get("content")
    body = content if isinstance(content, dict) else {}
    from_me = msg.get("fromMe") is True
    by_api = msg.get("wasSentByApi") is True
    is_group = _is_group(msg, chat)
    kind = kind_of(msg)
    sent_at = epoch_to_datetime(msg.get("messageTimestamp"))
    attributes = attributes_for(payload, msg, body, kind, is_group)
    if sent_at is None:
        attributes["timestamp_missing"] = True
    if from_me:
        sender = SenderRole.BOT if by_api else SenderRole.HUMAN
        if not by_api and text_of(msg.get("senderName")):
            attributes["agent_name"] = msg["senderName"]
    else:
        sender = SenderRole.CUSTOMER
    return ParsedMessage(
        provider=Provider.UAZAPI,
        contact=_contact(msg, chat, from_me=from_me, is_group=is_group),
        provider_message_id=_message_id(msg, payload),
        kind=kind,
        sent_at=sent_at or received_at,
        sender=sender,
        text=text_for(msg, content, kind),
        media=media_for(msg, body, kind),
        reply_to=reply_to_for(msg, body, kind),
        is_group=is_group,
        own_echo=from_me and by_api,
        attributes=attributes,
        raw=payload,
    )


def _message_id(msg: dict[str, Any], payload: dict[str, Any]) -> str:
    return message_id_of(msg) or stable_id("uaz-", payload)


def _is_group(msg: dict[str, Any], chat: dict[str, Any]) -> bool:
    chat_id = str(msg.get("chatid") or chat.get("wa_chatid") or "")
    return msg.get("isGroup") is True or chat.get("wa_isGroup") is True or chat_id.endswith("@g.us")


def _contact(
    msg: dict[str, Any], chat: dict[str, Any], *, from_me: bool, is_group: bool
) -> Contact:
    chat_id = text_of(msg.get("chatid")) or text_of(chat.get("wa_chatid"))
    chat_lid = text_of(msg.get("chatlid")) or text_of(chat.get("wa_chatlid"))
    if is_group and chat_id:
        name = text_of(msg.get("groupName")) or text_of(chat.get("name"))
        return Contact(
            key=chat_id, name=None if name == "Unknown" else name, provider_ids={"group": chat_id}
        )
    ids: dict[str, str] = {}
    if from_me:
        # our own number is the sender: the customer is the chat
        jid = chat_id if chat_id and chat_id.endswith("@s.whatsapp.net") else None
        phone = digits(jid) or digits(chat.get("phone"))
        lid = chat_lid
        name = text_of(chat.get("name")) or text_of(chat.get("wa_contactName"))
    else:
        jid = next(
            (
                v
                for v in (text_of(msg.get("sender_pn")), chat_id)
                if v and v.endswith("@s.whatsapp.net")
            ),
            None,
        )
        phone = digits(jid) or digits(chat.get("phone"))
        lid = next(
            (
                v
                for v in (text_of(msg.get("sender_lid")), text_of(msg.get("sender")), chat_lid)
                if v and v.endswith("@lid")
            ),
            None,
        )
        name = text_of(msg.get("senderName")) or text_of(chat.get("name"))
    if jid:
        ids["jid"] = jid
    if lid:
        ids["lid"] = lid
    key = phone or lid or chat_id or "unknown"
    return Contact(key=key, phone=phone, name=name, provider_ids=ids)
