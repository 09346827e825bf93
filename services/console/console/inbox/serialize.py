"""Rows to the JSON the pages read (ISO dates, ids as strings, Portuguese labels).

The shapes keep `datetime` values as they are: `json_response` (orjson) writes them as
ISO 8601, the same text as `isoformat()`, without a pass over the tree in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from fastapi import Response

from console.inbox.meanings import STATUS_LABELS, meaning
from wacommon.conversation.human_send import WINDOW, window_open

PREVIEW_CHARS = 120
# payload keys worth showing; the rest (provider attributes, raw ids) stays server-side
_MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


class Row(Protocol):
    """A dict or an asyncpg Record: read by column name only."""

    def __getitem__(self, key: str, /) -> Any: ...


def json_response(body: Any, status_code: int = 200) -> Response:
    """The body encoded once with orjson (no response-model validation, no second walk)."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def conversation_json(row: Row) -> dict[str, Any]:
    now: datetime = row["now"]
    last_customer = row["last_customer_message_at"]
    is_meta = row["provider"] == "meta"
    is_open = window_open(row["provider"], last_customer, now)
    last = None
    if row["last_id"] is not None:
        text = row["last_content"] or ""
        last = {
            "id": row["last_id"],
            "direction": row["last_direction"],
            "author": row["last_role"],
            "type": row["last_kind"],
            "text": text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else ""),
            "status": row["last_status"],
            "at": row["last_created_at"],
        }
    assignee = (
        {"id": str(row["assigned_user_id"]), "name": row["assignee_name"]}
        if row["assigned_user_id"]
        else None
    )
    return {
        "id": str(row["id"]),
        "contact": {
            "name": row["contact_name"],
            "phone": row["contact_phone"],
            "key": row["contact_key"],
        },
        "provider": row["provider"],
        "number": {
            "instance_id": str(row["provider_instance_id"])
            if row["provider_instance_id"]
            else None,
            "phone": row["number"],
            "name": row["instance_name"],
        },
        "state": {
            "value": row["state"],
            "since": row["state_since"],
            "why": row["state_reason"],
            "until": row["state_until"],
        },
        "last_message": last,
        "last_activity_at": row["last_message_at"],
        "unread": int(row["unread"] or 0),
        "assignee": assignee,
        "window": {
            "applies": is_meta,
            "open": is_open,
            "closes_at": last_customer + WINDOW if is_meta and last_customer and is_open else None,
        },
    }


def _author(row: Row, role: str) -> dict[str, Any]:
    if role == "human":
        return {
            "kind": "human",
            "user_id": str(row["author_user_id"]) if row["author_user_id"] else None,
            "name": row["author_name"],
        }
    if role in ("customer", "bot", "system"):
        return {"kind": role}
    return {"kind": "system", "role": role}  # campaign sends


def _media(row: Row, kind: str, direction: str, payload: dict[str, Any]) -> dict[str, Any]:
    ref = row["media"] or {}
    out: dict[str, Any] = {
        "url": f"/api/media/{row['id']}",
        "mime_type": ref.get("mime_type") or payload.get("mime_type"),
        "filename": ref.get("filename") or payload.get("filename"),
        "voice": bool(ref.get("voice")),
    }
    if direction == "in" and payload.get("media_processed"):
        if kind == "audio":
            out["transcript"] = row["content"]
        elif kind == "image":
            out["description"] = row["content"]
        else:
            out["extracted_text"] = row["content"]
    return out


# the column holding the time a delivery status was reached
_STATUS_AT = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "read_at",
    "played": "read_at",
    "failed": "failed_at",
    "dropped": "failed_at",
}


def _status(row: Row) -> dict[str, Any]:
    value = row["status"]
    column = _STATUS_AT.get(value)
    at = row[column] if column else None
    out: dict[str, Any] = {
        "value": value,
        "label": STATUS_LABELS.get(value, value),
        "at": at,
        "sent_at": row["sent_at"],
        "delivered_at": row["delivered_at"],
        "read_at": row["read_at"],
    }
    if value in ("failed", "dropped"):
        out["error"] = {
            "code": row["error_code"],
            "meaning": meaning(row["error_code"])
            if value == "failed"
            else "Não enviada: a conversa não estava mais com o robô.",
        }
    return out


def message_json(row: Row, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    # each column read once (a thread page shapes fifty of these per request)
    kind = row["kind"]
    direction = row["direction"]
    payload = row["payload"] or {}
    has_media = kind in _MEDIA_KINDS or (payload and payload.get("stored_media"))
    out: dict[str, Any] = {
        "id": row["id"],
        "direction": direction,
        "author": _author(row, row["role"]),
        "type": kind,
        "text": row["content"],
        "media": _media(row, kind, direction, payload) if has_media else None,
        "status": _status(row) if direction == "out" else None,
        "at": row["created_at"],
        "tool_calls": tools or [],
    }
    if payload:
        if kind == "template" and payload.get("template"):
            out["template"] = {
                "name": payload["template"].get("name"),
                "language": payload["template"].get("language"),
            }
        if payload.get("alert_to"):
            out["alert"] = {"kind": payload.get("alert"), "to": payload["alert_to"]}
        if direction == "in" and payload.get("polite_reply"):
            out["media_error"] = payload.get("reason")
    return out


def encode_cursor(at: datetime, conversation_id: str) -> str:
    return f"{at.isoformat()}|{conversation_id}"


def decode_cursor(raw: str) -> tuple[datetime, str] | None:
    try:
        at, cid = raw.rsplit("|", 1)
        return datetime.fromisoformat(at), cid
    except ValueError:
        return None


__all__ = ["conversation_json", "decode_cursor", "encode_cursor", "message_json", "timedelta"]
