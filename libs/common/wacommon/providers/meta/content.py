"""Meta message objects to normalised content: kind, text, media and attributes, per type.

Every function here takes untrusted JSON and never raises: unknown or malformed
content becomes `MessageKind.UNSUPPORTED` with the facts that could be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wacommon.broker.schemas import MediaRef, MessageKind

MEDIA_TYPES = {
    "image": MessageKind.IMAGE,
    "audio": MessageKind.AUDIO,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "sticker": MessageKind.STICKER,
}
_MAX_TS = 253402300799  # 9999-12-31, the last second datetime can hold


def as_str(value: object) -> str | None:
    """A non-empty string from a JSON scalar, else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_datetime(value: object) -> datetime | None:
    """Unix seconds (Meta sends them as strings) to an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not 0 <= seconds <= _MAX_TS:  # also rejects NaN
        return None
    return datetime.fromtimestamp(seconds, UTC)


def error_summaries(value: object) -> list[dict[str, Any]]:
    """Meta `errors[]` objects reduced to code, title and details."""
    out: list[dict[str, Any]] = []
    for err in as_list(value):
        err = as_dict(err)
        if err:
            out.append(
                {
                    "code": as_str(err.get("code")),
                    "title": as_str(err.get("title")) or as_str(err.get("message")),
                    "details": as_str(as_dict(err.get("error_data")).get("details")),
                }
            )
    return out


@dataclass
class Content:
    """What one message says, provider-neutral."""

    kind: MessageKind
    text: str = ""
    media: MediaRef | None = None
    reply_to: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def message_content(message: dict[str, Any]) -> Content:
    """Kind, text, media, reply context and attributes of one `messages[]` object."""
    mtype = as_str(message.get("type")) or ""
    body = message.get(mtype) if mtype else None
    content = _by_type(mtype, as_dict(body), body)
    _add_context(content, as_dict(message.get("context")))
    referral = as_dict(message.get("referral"))
    if referral:
        content.attributes["referral"] = referral
    errors = error_summaries(message.get("errors"))
    if errors:
        content.attributes["errors"] = errors
    return content


def _by_type(mtype: str, obj: dict[str, Any], body: object) -> Content:
    if mtype == "text":
        return Content(MessageKind.TEXT, as_str(obj.get("body")) or "")
    if mtype in MEDIA_TYPES and obj:
        return _media(mtype, obj)
    if mtype == "location" and obj:
        return _location(obj)
    if mtype == "contacts" and isinstance(body, list):
        return _contacts(body)
    if mtype == "interactive":
        return _interactive(obj)
    if mtype == "button" and obj:
        text = as_str(obj.get("text")) or as_str(obj.get("payload")) or ""
        return Content(MessageKind.BUTTON, text, attributes={"button_payload": obj.get("payload")})
    if mtype == "reaction" and obj:
        return _reaction(obj)
    if mtype == "order" and obj:
        return _order(obj)
    if mtype == "system" and obj:
        attrs = {"system_type": as_str(obj.get("type")), "new_wa_id": as_str(obj.get("wa_id"))}
        return Content(MessageKind.SYSTEM, as_str(obj.get("body")) or "", attributes=attrs)
    nested = as_str(as_dict(body).get("type")) if mtype == "unsupported" else None
    return Content(
        MessageKind.UNSUPPORTED, attributes={"unsupported_type": nested or mtype or None}
    )


def _media(mtype: str, obj: dict[str, Any]) -> Content:
    size = obj.get("file_size")
    media = MediaRef(
        media_id=as_str(obj.get("id")),
        url=as_str(obj.get("url")),
        mime_type=as_str(obj.get("mime_type")),
        filename=as_str(obj.get("filename")),
        sha256=as_str(obj.get("sha256")),
        voice=mtype == "audio" and obj.get("voice") is True,
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )
    attrs: dict[str, Any] = {}
    if mtype == "sticker":
        attrs["animated"] = obj.get("animated") is True
    return Content(MEDIA_TYPES[mtype], as_str(obj.get("caption")) or "", media, attributes=attrs)


def _location(obj: dict[str, Any]) -> Content:
    lat, lon = as_str(obj.get("latitude")), as_str(obj.get("longitude"))
    place = ", ".join(p for p in (as_str(obj.get("name")), as_str(obj.get("address"))) if p)
    parts = ["[localização]"]
    if place:
        parts.append(place)
    if lat and lon:
        parts.append(f"({lat},{lon})")
    attrs = {k: obj.get(k) for k in ("latitude", "longitude", "name", "address", "url") if k in obj}
    return Content(MessageKind.LOCATION, " ".join(parts), attributes={"location": attrs})


def _contacts(cards: list[Any]) -> Content:
    lines = []
    for card in cards:
        card = as_dict(card)
        name = as_str(as_dict(card.get("name")).get("formatted_name")) or ""
        phones = [as_str(as_dict(p).get("phone")) for p in as_list(card.get("phones"))]
        lines.append(" ".join(p for p in (name, *phones) if p))
    text = "[contato] " + "; ".join(line for line in lines if line)
    return Content(MessageKind.CONTACTS, text.strip(), attributes={"contacts": cards})


def _interactive(obj: dict[str, Any]) -> Content:
    itype = as_str(obj.get("type")) or ""
    reply = as_dict(obj.get(itype))
    if itype in ("button_reply", "list_reply") and reply:
        attrs = {
            "interactive_type": itype,
            "reply_id": as_str(reply.get("id")),
            "reply_title": as_str(reply.get("title")),
            "reply_description": as_str(reply.get("description")),
        }
        return Content(MessageKind.INTERACTIVE, as_str(reply.get("title")) or "", attributes=attrs)
    if itype == "nfm_reply" and reply:
        attrs = {"interactive_type": itype, "response_json": as_str(reply.get("response_json"))}
        return Content(MessageKind.INTERACTIVE, as_str(reply.get("body")) or "", attributes=attrs)
    return Content(MessageKind.UNSUPPORTED, attributes={"unsupported_type": "interactive"})


def _reaction(obj: dict[str, Any]) -> Content:
    emoji = as_str(obj.get("emoji")) or ""
    attrs = {
        "reaction_to": as_str(obj.get("message_id")),
        "emoji": emoji or None,
        "removed": not emoji,  # Meta sends no emoji (or "") when a reaction is taken back
    }
    return Content(MessageKind.REACTION, emoji, attributes=attrs)


def _order(obj: dict[str, Any]) -> Content:
    attrs = {
        "order": {"catalog_id": obj.get("catalog_id"), "product_items": obj.get("product_items")}
    }
    return Content(MessageKind.ORDER, as_str(obj.get("text")) or "[pedido]", attributes=attrs)


def _add_context(content: Content, context: dict[str, Any]) -> None:
    if not context:
        return
    for flag in ("forwarded", "frequently_forwarded"):
        if context.get(flag) is True:
            content.attributes[flag] = True
    quoted = as_str(context.get("id"))
    if quoted:
        content.reply_to = quoted
        content.attributes["reply_to_from"] = as_str(context.get("from"))
    product = as_dict(context.get("referred_product"))
    if product:
        content.attributes["referred_product"] = product
