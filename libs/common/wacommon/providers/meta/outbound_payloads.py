"""Graph API `/messages` request bodies, built exactly as Meta documents them.

Pure functions: the client posts what these return, tests compare them with the corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wacommon.providers.outbound import OutboundMessage

MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")


def envelope(
    to: str, kind: str, *, reply_to: str | None = None, callback_data: str | None = None
) -> dict[str, Any]:
    """The fields every send shares; a BSUID (it has a dot, phones never do) goes in `recipient`."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body["recipient" if "." in to else "to"] = to
    if reply_to:
        body["context"] = {"message_id": reply_to}
    body["type"] = kind
    if callback_data:
        body["biz_opaque_callback_data"] = callback_data
    return body


def text_object(body: str, *, preview_url: bool = False) -> dict[str, Any]:
    """`text` object; `preview_url` lives inside it (Meta docs, not the old sample app)."""
    return {"preview_url": True, "body": body} if preview_url else {"body": body}


def media_object(
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    voice: bool = False,
) -> dict[str, Any]:
    """`image`/`audio`/`video`/`document`/`sticker` object, by uploaded id or public link."""
    if kind not in MEDIA_KINDS:
        raise ValueError(f"not a media kind: {kind}")
    if bool(media_id) == bool(link):
        raise ValueError("exactly one of media_id and link is required")
    obj: dict[str, Any] = {"id": media_id} if media_id else {"link": link}
    if kind == "document" and filename:
        obj["filename"] = filename
    if caption and kind in ("image", "video", "document"):
        obj["caption"] = caption
    if kind == "audio" and voice:
        obj["voice"] = True
    return obj


def template_object(
    name: str,
    language: str | Mapping[str, Any],
    components: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`template` object: name, language code and optional components."""
    lang = {"code": language} if isinstance(language, str) else dict(language)
    obj: dict[str, Any] = {"name": name, "language": lang}
    if components:
        obj["components"] = [dict(c) for c in components]
    return obj


def text_parameters(values: Sequence[str] | Mapping[str, str]) -> list[dict[str, Any]]:
    """Template text parameters: a sequence is positional ({{1}}...), a mapping is named."""
    if isinstance(values, Mapping):
        return [{"type": "text", "parameter_name": k, "text": v} for k, v in values.items()]
    return [{"type": "text", "text": v} for v in values]


def body_component(values: Sequence[str] | Mapping[str, str]) -> dict[str, Any]:
    """A template `body` component with positional or named text parameters."""
    return {"type": "body", "parameters": text_parameters(values)}


def header_media_component(kind: str, **media: Any) -> dict[str, Any]:
    """A template `header` component carrying one media parameter (id or link)."""
    obj = {k: v for k, v in media.items() if v is not None}
    return {"type": "header", "parameters": [{"type": kind, kind: obj}]}


def reply_buttons(
    body: str,
    buttons: Sequence[tuple[str, str]],
    *,
    header: Mapping[str, Any] | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """`interactive` object with up to 3 reply buttons given as (id, title)."""
    if not 1 <= len(buttons) <= 3:
        raise ValueError("reply buttons need 1 to 3 buttons")
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in buttons]}
    return _interactive("button", body, action, header, footer)


def list_message(
    body: str,
    button: str,
    sections: Sequence[Mapping[str, Any]],
    *,
    header: str | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """`interactive` list: sections of rows {id, title, description?}, 10 rows at most."""
    if sum(len(s.get("rows", ())) for s in sections) > 10:
        raise ValueError("a list message holds at most 10 rows")
    head = {"type": "text", "text": header} if header else None
    action = {"button": button, "sections": [dict(s) for s in sections]}
    return _interactive("list", body, action, head, footer)


def _interactive(
    kind: str,
    body: str,
    action: dict[str, Any],
    header: Mapping[str, Any] | None,
    footer: str | None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": kind}
    if header:
        obj["header"] = dict(header)
    obj["body"] = {"text": body}
    if footer:
        obj["footer"] = {"text": footer}
    obj["action"] = action
    return obj


def mark_read_body(message_id: str, *, typing: bool = False) -> dict[str, Any]:
    """Mark a message (and those before it) read; optionally show the typing indicator."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


def message_body(msg: OutboundMessage) -> dict[str, Any]:
    """The full `/messages` body for a provider-neutral OutboundMessage."""
    body = envelope(msg.to, msg.kind, reply_to=msg.reply_to, callback_data=msg.callback_data)
    if msg.kind == "text":
        body["text"] = text_object(msg.text, preview_url=msg.preview_url)
    elif msg.kind in MEDIA_KINDS:
        body[msg.kind] = media_object(
            msg.kind,
            media_id=msg.media_id,
            link=msg.media_url,
            caption=msg.caption or (msg.text or None),
            filename=msg.filename,
            voice=msg.voice,
        )
    elif msg.kind == "template":
        tpl = msg.template or {}
        if not tpl.get("name"):
            raise ValueError("template message without a template name")
        body["template"] = template_object(
            str(tpl["name"]),
            tpl.get("language") or "pt_BR",
            tpl.get("components"),
        )
    elif msg.kind == "interactive":
        if not msg.interactive:
            raise ValueError("interactive message without an interactive object")
        body["interactive"] = dict(msg.interactive)
    elif msg.kind == "reaction":
        if not msg.reaction_to:
            raise ValueError("reaction without reaction_to")
        body["reaction"] = {"message_id": msg.reaction_to, "emoji": msg.text}
    else:
        raise ValueError(f"unsupported outbound kind: {msg.kind}")
    return body
