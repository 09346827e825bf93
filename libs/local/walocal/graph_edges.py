"""The fake Graph API's endpoints: sends (and read receipts), media upload, URL and download,
and the sandbox chat's poll of what the bot sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from walocal.graph_state import GraphState, corpus, failure_response, graph_error, recipient


def state_of(request: Request) -> GraphState:
    """The state the app was made for."""
    state: GraphState = request.app.state.graph
    return state


def error(status: int, body: dict[str, Any], retry_after: float | None = None) -> Response:
    """A Graph error answer, with Retry-After when the failure names one."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=status, headers=headers)


async def fail(state: GraphState, endpoint: str) -> Response | None:
    """The queued failure of `endpoint` as its answer; a timeout only delays the real one."""
    failure = state.take_failure(endpoint)
    if failure is None:
        return None
    if failure.kind == "timeout":
        await asyncio.sleep(state.timeout_seconds)
        return None  # answer normally, too late for the client: the send did happen
    status, body = failure_response(failure.kind)
    return error(status, body, failure.retry_after)


def unauthorized() -> Response:
    """Graph's answer to a token it does not know."""
    return error(401, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))


async def sandbox_messages(
    request: Request, to: str | None = None, after: int = 0
) -> dict[str, Any]:
    state = state_of(request)
    sends = state.sent_messages(to.lstrip("+") if to else None, after)
    out = [
        {
            "seq": r.seq,
            "to": recipient(r.json or {}),
            "type": (r.json or {}).get("type"),
            "text": _render(r.json or {}),
            "wamid": r.response_id,
            "at": r.at,
            "body": r.json,
        }
        for r in sends
    ]
    return {"messages": out, "last_seq": max((r.seq for r in sends), default=after)}


async def download(media_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    if not state.token_ok(None, request.headers.get("authorization")):
        return unauthorized()
    failed = await fail(state, "download")
    if failed is not None:
        return failed
    if media_id not in state.media:
        return error(404, graph_error(100, "Media not found"))
    data, mime = state.media[media_id]
    if state.omit_sizes:
        chunks = [data[i : i + 1024] for i in range(0, len(data), 1024)]
        return StreamingResponse(iter(chunks), media_type=mime)
    return Response(data, media_type=mime)


async def messages(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    rec = state.record(request, body if isinstance(body, dict) else None, phone_id)
    if not state.token_ok(phone_id, request.headers.get("authorization")):
        return unauthorized()
    failed = await fail(state, "messages")
    if failed is not None:
        return failed
    problem = _invalid_body(body)
    if problem:
        return error(400, graph_error(100, "Invalid parameter", problem))
    assert isinstance(body, dict)
    if body.get("status") == "read":
        rec.response_id = "read"
        return JSONResponse(corpus("send/success_true.response.json"))
    template = body.get("type") == "template"
    answer = corpus(
        "send/send_template.response.json" if template else "send/send_message.response.json"
    )
    rec.response_id = _wamid(rec.seq)
    recipient = str(body.get("to") or body.get("recipient"))
    answer["contacts"] = [{"input": recipient, "wa_id": recipient.lstrip("+")}]
    answer["messages"][0]["id"] = rec.response_id
    return JSONResponse(answer)


async def upload(phone_id: str, request: Request) -> Response:
    state = state_of(request)
    form = await request.form()
    upload = form.get("file")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    state.record(request, fields, phone_id)
    if not state.token_ok(phone_id, request.headers.get("authorization")):
        return unauthorized()
    failed = await fail(state, "media")
    if failed is not None:
        return failed
    if fields.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
        return error(400, graph_error(100, "Invalid parameter", "file and messaging_product"))
    data = await upload.read()
    mime = fields.get("type") or upload.content_type or "application/octet-stream"
    return JSONResponse({"id": state.add_media(data, mime)})


async def media_url(media_id: str, request: Request) -> Response:
    state = state_of(request)
    state.record(request, None)
    if not state.token_ok(None, request.headers.get("authorization")):
        return unauthorized()
    failed = await fail(state, "media_url")
    if failed is not None:
        return failed
    if media_id not in state.media:
        return error(400, graph_error(100, "Unsupported get request"))
    data, mime = state.media[media_id]
    answer = corpus("send/media_url.response.json")
    answer.update(
        url=f"{str(request.base_url).rstrip('/')}/media-download/{media_id}",
        mime_type=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        id=media_id,
    )
    if state.omit_sizes:
        answer.pop("file_size", None)
    return JSONResponse(answer)


def _wamid(seq: int) -> str:
    raw = f"fake.{seq}.{uuid.uuid4().hex}".encode()
    return "wamid." + base64.b64encode(raw).decode()


def _invalid_body(body: object) -> str | None:
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if body.get("status") == "read":
        return None if isinstance(body.get("message_id"), str) else "message_id is required"
    kind = body.get("type", "text")
    if not (body.get("to") or body.get("recipient")):
        return "to is required"
    if not isinstance(body.get(kind), dict):
        return f"{kind} object is required"
    if kind == "text" and len(str(body["text"].get("body", ""))) > 4096:
        return "text body too long"
    return None


def _render(body: dict[str, Any]) -> str:
    """A one-line human reading of a send, for the terminal chat."""
    kind = body.get("type", "text")
    found = body.get(kind)
    obj: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "text":
        return str(obj.get("body", ""))
    if kind == "template":
        return f"[template {obj.get('name')}]"
    if kind == "interactive":
        action = obj.get("action") or {}
        options = [b.get("reply", {}).get("title") for b in action.get("buttons", [])]
        options += [r.get("title") for s in action.get("sections", []) for r in s.get("rows", [])]
        text = str((obj.get("body") or {}).get("text", ""))
        return text + (" [" + " | ".join(str(o) for o in options) + "]" if options else "")
    if kind == "reaction":
        return f"[reaction {obj.get('emoji')}]"
    label = obj.get("caption") or obj.get("filename") or obj.get("link") or obj.get("id")
    return f"[{kind}] {label or ''}".strip()
