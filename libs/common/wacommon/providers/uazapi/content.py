"""Uazapi message content: kind, text, media reference, reply target and attributes."""

from __future__ import annotations

from typing import Any

from wacommon.broker.schemas import MediaRef, MessageKind
from wacommon.providers.normalised import as_dict, digits, number, text_of

_BY_MESSAGE_TYPE: dict[str, MessageKind] = {
    "conversation": MessageKind.TEXT,
    "extendedtextmessage": MessageKind.TEXT,
    "imagemessage": MessageKind.IMAGE,
    "audiomessage": MessageKind.AUDIO,
    "videomessage": MessageKind.VIDEO,
    "ptvmessage": MessageKind.VIDEO,
    "documentmessage": MessageKind.DOCUMENT,
    "documentwithcaptionmessage": MessageKind.DOCUMENT,
    "stickermessage": MessageKind.STICKER,
    "locationmessage": MessageKind.LOCATION,
    "livelocationmessage": MessageKind.LOCATION,
    "contactmessage": MessageKind.CONTACTS,
    "contactsarraymessage": MessageKind.CONTACTS,
    "reactionmessage": MessageKind.REACTION,
    "pollupdatemessage": MessageKind.POLL,
    "listresponsemessage": MessageKind.INTERACTIVE,
    "interactiveresponsemessage": MessageKind.INTERACTIVE,
    "buttonsresponsemessage": MessageKind.BUTTON,
    "templatebuttonreplymessage": MessageKind.BUTTON,
}
_BY_MEDIA_TYPE: dict[str, MessageKind] = {
    "ptt": MessageKind.AUDIO,
    "audio": MessageKind.AUDIO,
    "myaudio": MessageKind.AUDIO,
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "ptv": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "sticker": MessageKind.STICKER,
    "vcard": MessageKind.CONTACTS,
    "location": MessageKind.LOCATION,
    "list_response": MessageKind.INTERACTIVE,
}
_BY_TYPE: dict[str, MessageKind] = {
    "text": MessageKind.TEXT,
    "reaction": MessageKind.REACTION,
    "poll": MessageKind.POLL,
}
_MEDIA_KINDS = frozenset(
    {
        MessageKind.IMAGE,
        MessageKind.AUDIO,
        MessageKind.VIDEO,
        MessageKind.DOCUMENT,
        MessageKind.STICKER,
    }
)


def kind_of(msg: dict[str, Any]) -> MessageKind:
    """The message kind from `messageType`, else `mediaType`, else `type` (any casing)."""
    message_type = str(msg.get("messageType") or "").lower()
    media_type = str(msg.get("mediaType") or "").lower()
    if message_type in _BY_MESSAGE_TYPE:
        return _BY_MESSAGE_TYPE[message_type]
    if media_type in _BY_MEDIA_TYPE:
        return _BY_MEDIA_TYPE[media_type]
    if "sticker" in media_type:
        return MessageKind.STICKER
    return _BY_TYPE.get(str(msg.get("type") or "").lower(), MessageKind.UNSUPPORTED)


def text_for(msg: dict[str, Any], content: object, kind: MessageKind) -> str:
    """The text: the body, a caption, or the chosen option of a vote or list reply."""
    if kind in (MessageKind.POLL, MessageKind.INTERACTIVE, MessageKind.BUTTON):
        chosen = text_of(msg.get("vote")) or text_of(msg.get("text"))
        return chosen or text_of(as_dict(content).get("title")) or ""
    if isinstance(content, str) and not text_of(msg.get("text")):
        return content
    body = as_dict(content)
    return (
        text_of(msg.get("text")) or text_of(body.get("text")) or text_of(body.get("caption")) or ""
    )


def media_for(msg: dict[str, Any], body: dict[str, Any], kind: MessageKind) -> MediaRef | None:
    """A MediaRef downloadable by message id, for media kinds only."""
    if kind not in _MEDIA_KINDS:
        return None
    size = number(body.get("fileLength"))
    media_type = str(msg.get("mediaType") or "").lower()
    return MediaRef(
        # Uazapi serves the decrypted bytes by message id (POST /message/download)
        media_id=message_id_of(msg),
        url=text_of(body.get("URL")) or text_of(body.get("url")),
        mime_type=text_of(body.get("mimetype")),
        filename=text_of(body.get("fileName")),
        voice=kind is MessageKind.AUDIO and (body.get("PTT") is True or media_type == "ptt"),
        size_bytes=int(size) if size is not None else None,
        seconds=number(body.get("seconds")),
    )


def reply_to_for(msg: dict[str, Any], body: dict[str, Any], kind: MessageKind) -> str | None:
    """The message this one answers: the reaction target or the quoted message."""
    if kind is MessageKind.REACTION:
        return text_of(msg.get("reaction")) or text_of(as_dict(body.get("key")).get("ID"))
    return text_of(msg.get("quoted"))


def attributes_for(
    payload: dict[str, Any],
    msg: dict[str, Any],
    body: dict[str, Any],
    kind: MessageKind,
    is_group: bool,
) -> dict[str, Any]:
    """Provider facts: edit_of, reaction_to, poll_vote, list_reply, location, group, ..."""
    attrs: dict[str, Any] = {"message_type": msg.get("messageType")}
    for key in ("track_source", "track_id", "source"):
        if text_of(msg.get(key)):
            attrs[key] = msg[key]
    if text_of(payload.get("instanceName")):
        attrs["instance_name"] = payload["instanceName"]
    edited = text_of(msg.get("edited"))
    if edited:
        attrs["edit_of"] = edited
    if kind is MessageKind.REACTION:
        attrs["reaction_to"] = reply_to_for(msg, body, kind)
        if not text_of(msg.get("text")) and not text_of(body.get("text")):
            attrs["reaction_removed"] = True
    elif kind is MessageKind.POLL:
        poll_key = as_dict(body.get("pollCreationMessageKey"))
        attrs["poll_vote"] = {
            "poll_id": text_of(poll_key.get("ID")) or text_of(msg.get("quoted")),
            "selected": text_of(msg.get("vote")),
        }
    elif kind in (MessageKind.INTERACTIVE, MessageKind.BUTTON):
        reply = {
            "id": text_of(msg.get("buttonOrListid")),
            "title": text_of(msg.get("vote")) or text_of(body.get("title")),
            "description": text_of(body.get("description")),
        }
        attrs["list_reply" if kind is MessageKind.INTERACTIVE else "button_reply"] = reply
    elif kind is MessageKind.LOCATION:
        attrs["location"] = {
            "latitude": body.get("degreesLatitude"),
            "longitude": body.get("degreesLongitude"),
            "name": body.get("name"),
            "address": body.get("address"),
        }
    elif kind is MessageKind.CONTACTS and text_of(body.get("vcard")):
        attrs["vcard"] = body["vcard"]
    if is_group:
        attrs["group"] = {
            "id": text_of(msg.get("chatid")),
            "participant": digits(msg.get("sender_pn")),
            "participant_lid": text_of(msg.get("sender_lid")),
        }
    return attrs


def message_id_of(msg: dict[str, Any]) -> str | None:
    """The short message id webhooks, sends and downloads agree on (`messageid`)."""
    short = text_of(msg.get("messageid"))
    if short:
        return short
    full = text_of(msg.get("id"))
    return full.rsplit(":", 1)[-1] if full else None
