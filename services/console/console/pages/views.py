"""The inbox API's JSON turned into what the templates show (names, labels, flags)."""

from __future__ import annotations

import re
from typing import Any

_MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
_KNOWN_REASONS = frozenset(
    {
        "ai",
        "ai_tool",
        "human_reply",
        "human_command",
        "human",
        "console",
        "timeout",
        "customer",
        "customer_pause",
        "operator",
        "followup_finished",
    }
)
# the offline responder's handover codes (an LLM's own reason is free text, shown as is)
_AI_CODES = {
    "customer_asked_for_human": "reason.ai_customer_asked",
    "no_answer_in_knowledge_base": "reason.ai_no_answer",
}
_PARAM = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def reason(why: str | None) -> tuple[str | None, str | None]:
    """`ai:cliente pediu` -> (`reason.ai`, `cliente pediu`); unknown causes keep their text."""
    if not why:
        return None, None
    head, _, detail = why.partition(":")
    if head == "ai" and detail.strip() in _AI_CODES:
        return _AI_CODES[detail.strip()], None
    if head in _KNOWN_REASONS:
        return f"reason.{head}", detail.strip() or None
    return "reason.other", why


def conversation_view(c: dict[str, Any]) -> dict[str, Any]:
    last = c.get("last_message") or {}
    state = _get(c, "state", "value") or "bot"
    window_applies = bool(_get(c, "window", "applies"))
    reason_key, reason_detail = reason(_get(c, "state", "why"))
    preview = last.get("text") or ""
    if not preview and last.get("type") and last.get("type") != "text":
        preview = f"[{last['type']}]"
    number = c.get("number") or {}
    return {
        "id": str(c["id"]),
        "name": _get(c, "contact", "name"),
        "phone": _get(c, "contact", "phone"),
        "provider": c.get("provider") or "meta",
        "number": number.get("phone") or number.get("name"),
        "state": state,
        "state_since": _get(c, "state", "since"),
        "state_until": _get(c, "state", "until"),
        "reason_key": reason_key,
        "reason_detail": reason_detail,
        "preview": preview,
        "preview_author": last.get("author"),
        "activity_at": c.get("last_activity_at") or last.get("at"),
        "unread": int(c.get("unread") or 0),
        "assignee_id": _get(c, "assignee", "id"),
        "assignee_name": _get(c, "assignee", "name"),
        "window_open": bool(_get(c, "window", "open")) if window_applies else None,
        # handed to people and nobody has answered since: the queue an attendant works
        "waiting": state == "human" and last.get("author") not in ("human", None),
    }


def _media_kind(kind: str | None, mime: str | None) -> str:
    if kind in _MEDIA_KINDS:
        return kind
    top = (mime or "").split("/", 1)[0]
    return top if top in ("image", "audio", "video") else "document"


def message_view(m: dict[str, Any]) -> dict[str, Any]:
    media = m.get("media") or {}
    author = m.get("author") or {}
    status = m.get("status") or {}
    transcript = media.get("transcript")
    description = media.get("description")
    text = m.get("text") or ""
    if text and text in (transcript, description, media.get("extracted_text")):
        text = ""  # shown once, labelled, under the media
    kind = author.get("kind") or "system"
    if kind == "system" and author.get("role") == "campaign":
        kind = "campaign"
    tools = [
        {"name": t.get("tool") or t.get("name") or "?", "ok": t.get("ok")}
        for t in m.get("tool_calls") or []
    ]
    return {
        "id": m["id"],
        "direction": m.get("direction") or "in",
        "author": kind,
        "author_name": author.get("name"),
        "type": m.get("type") or "text",
        "text": text,
        "media_url": media.get("url"),
        "media_kind": _media_kind(m.get("type"), media.get("mime_type")),
        "media_name": media.get("filename"),
        "transcript": transcript,
        "description": description,
        "status": "read" if status.get("value") == "played" else status.get("value"),
        "error_code": _get(status, "error", "code"),
        "error_meaning": _get(status, "error", "meaning"),
        "tool_calls": tools,
        "template_name": _get(m, "template", "name"),
        # a handover alert the owner got on their own WhatsApp, logged in this thread
        "alert_to": _get(m, "alert", "to"),
        "at": m.get("at"),
    }


def template_view(tp: dict[str, Any]) -> dict[str, Any]:
    body = tp.get("body") or ""
    names: list[str] = []
    for found in _PARAM.findall(body):
        if found not in names:
            names.append(found)
    return {
        "name": tp.get("name") or "",
        "language": tp.get("language") or "",
        "body": body,
        "params": len(names),
        "named": (tp.get("parameter_format") or "").upper() == "NAMED",
        "param_names": names,
    }
