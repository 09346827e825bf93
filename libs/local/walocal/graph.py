"""A fake Meta Graph API speaking the real wire format, for tests and the local sandbox.

In tests: `state = GraphState(tokens={"PHONE_ID": "TOKEN"}); app = make_graph_app(state)`,
then `with serve_in_thread(app) as srv:` and point the client at `srv.url`.
Standalone: `python -m walocal.graph --port 9100 --accept-any-token`; the sandbox
chat polls `GET /_sandbox/messages?to=...&after=<seq>` for the bot's replies.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

# the answers are Meta's recorded wire samples, kept once in the repository's corpus
CORPUS = Path(__file__).resolve().parents[3] / "tests" / "data" / "corpus" / "meta"
FailureKind = Literal[
    "rate_limit",
    "server_error",
    "pair_rate_limit",
    "reengagement",
    "token_expired",
    "timeout",
    "not_found",
]
Endpoint = Literal["messages", "media", "media_url", "download"]


def _corpus(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / name).read_text())
    return data


def _graph_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
    }
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    err["fbtrace_id"] = uuid.uuid4().hex[:20]
    return {"error": err}


def _failure_response(kind: str) -> tuple[int, dict[str, Any]]:
    if kind == "rate_limit":
        return 429, _corpus("errors/130429_rate_limit_hit.http_reconstructed.json")
    if kind == "pair_rate_limit":
        return 400, _corpus("errors/131056_pair_rate_limit.http_reconstructed.json")
    if kind == "token_expired":
        return 401, _corpus("errors/190_access_token_expired.json")
    if kind == "reengagement":
        obj = _corpus("errors/131047_reengagement.object.json")
        return 400, _graph_error(131047, obj["title"], obj["error_data"]["details"])
    if kind == "not_found":
        return 404, _graph_error(100, "Unsupported get request")
    return 500, _graph_error(2, "Service temporarily unavailable")


@dataclass
class Recorded:
    """One request the fake received."""

    seq: int
    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None
    at: float
    phone_id: str | None = None
    response_id: str | None = None


@dataclass
class _Failure:
    kind: str
    retry_after: float | None


@dataclass
class GraphState:
    """Tokens, recorded requests, stored media and a failure queue per endpoint."""

    tokens: dict[str, str] = field(default_factory=dict)
    accept_any_token: bool = False
    timeout_seconds: float = 2.0
    # serve media without file_size / Content-Length (chunked), to exercise streaming caps
    omit_sizes: bool = False
    requests: list[Recorded] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _failures: dict[str, deque[_Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def fail_next(
        self,
        n: int = 1,
        kind: FailureKind = "server_error",
        *,
        on: Endpoint = "messages",
        retry_after: float | None = None,
    ) -> None:
        """The next `n` requests to endpoint `on` fail with `kind`."""
        with self._lock:
            queue = self._failures.setdefault(on, deque())
            queue.extend(_Failure(kind, retry_after) for _ in range(n))

    def clear_failures(self) -> None:
        """Drop the failures still queued: the provider answers again."""
        with self._lock:
            self._failures.clear()

    def reset(self) -> None:
        """Forget recorded requests, queued failures and media (tokens stay)."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.media.clear()

    def take_failure(self, endpoint: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(endpoint)
            return queue.popleft() if queue else None

    def add_media(self, data: bytes, mime_type: str, media_id: str | None = None) -> str:
        """Store bytes the fake will serve; returns the media id."""
        media_id = media_id or str(int(uuid.uuid4().int % 10**16))
        with self._lock:
            self.media[media_id] = (data, mime_type)
        return media_id

    def record(
        self, request: Request, body: dict[str, Any] | None, phone_id: str | None = None
    ) -> Recorded:
        with self._lock:
            self._seq += 1
            rec = Recorded(
                self._seq,
                request.method,
                request.url.path,
                dict(request.headers),
                body,
                time.time(),
                phone_id,
            )
            self.requests.append(rec)
            return rec

    def token_ok(self, phone_id: str | None, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        token = authorization.removeprefix("Bearer ")
        if self.accept_any_token:
            return bool(token)
        if phone_id is None:
            return token in self.tokens.values()
        return self.tokens.get(phone_id) == token

    def sent_messages(self, to: str | None = None, after: int = 0) -> list[Recorded]:
        """Message sends (not mark-read) answered 200, optionally to one recipient."""
        with self._lock:
            records = list(self.requests)
        return [
            r
            for r in records
            if r.seq > after
            and r.response_id
            and r.json is not None
            and "status" not in r.json
            and (to is None or _recipient(r.json) == to)
        ]

    def read_receipts(self) -> list[Recorded]:
        """Mark-read (and typing indicator) requests."""
        with self._lock:
            return [
                r for r in self.requests if r.json is not None and r.json.get("status") == "read"
            ]


def _recipient(body: dict[str, Any]) -> str:
    return str(body.get("to") or body.get("recipient") or "").lstrip("+")


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


def make_graph_app(state: GraphState) -> FastAPI:
    """The fake Graph API as an ASGI app bound to `state`."""
    app = FastAPI(title="fake-graph")

    def error(status: int, body: dict[str, Any], retry_after: float | None = None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse(body, status_code=status, headers=headers)

    async def fail(endpoint: str) -> Response | None:
        failure = state.take_failure(endpoint)
        if failure is None:
            return None
        if failure.kind == "timeout":
            await asyncio.sleep(state.timeout_seconds)
            return None  # answer normally, too late for the client: the send did happen
        status, body = _failure_response(failure.kind)
        return error(status, body, failure.retry_after)

    def unauthorized() -> Response:
        return error(
            401, _graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        )

    @app.get("/_sandbox/messages")
    async def sandbox_messages(to: str | None = None, after: int = 0) -> dict[str, Any]:
        sends = state.sent_messages(to.lstrip("+") if to else None, after)
        out = [
            {
                "seq": r.seq,
                "to": _recipient(r.json or {}),
                "type": (r.json or {}).get("type"),
                "text": _render(r.json or {}),
                "wamid": r.response_id,
                "at": r.at,
                "body": r.json,
            }
            for r in sends
        ]
        return {"messages": out, "last_seq": max((r.seq for r in sends), default=after)}

    @app.get("/media-download/{media_id}")
    async def download(media_id: str, request: Request) -> Response:
        state.record(request, None)
        if not state.token_ok(None, request.headers.get("authorization")):
            return unauthorized()
        failed = await fail("download")
        if failed is not None:
            return failed
        if media_id not in state.media:
            return error(404, _graph_error(100, "Media not found"))
        data, mime = state.media[media_id]
        if state.omit_sizes:
            chunks = [data[i : i + 1024] for i in range(0, len(data), 1024)]
            return StreamingResponse(iter(chunks), media_type=mime)
        return Response(data, media_type=mime)

    @app.post("/{version}/{phone_id}/messages")
    async def messages(phone_id: str, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        rec = state.record(request, body if isinstance(body, dict) else None, phone_id)
        if not state.token_ok(phone_id, request.headers.get("authorization")):
            return unauthorized()
        failed = await fail("messages")
        if failed is not None:
            return failed
        problem = _invalid_body(body)
        if problem:
            return error(400, _graph_error(100, "Invalid parameter", problem))
        assert isinstance(body, dict)
        if body.get("status") == "read":
            rec.response_id = "read"
            return JSONResponse(_corpus("send/success_true.response.json"))
        template = body.get("type") == "template"
        answer = _corpus(
            "send/send_template.response.json" if template else "send/send_message.response.json"
        )
        rec.response_id = _wamid(rec.seq)
        recipient = str(body.get("to") or body.get("recipient"))
        answer["contacts"] = [{"input": recipient, "wa_id": recipient.lstrip("+")}]
        answer["messages"][0]["id"] = rec.response_id
        return JSONResponse(answer)

    @app.post("/{version}/{phone_id}/media")
    async def upload(phone_id: str, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        state.record(request, fields, phone_id)
        if not state.token_ok(phone_id, request.headers.get("authorization")):
            return unauthorized()
        failed = await fail("media")
        if failed is not None:
            return failed
        if (
            fields.get("messaging_product") != "whatsapp"
            or upload is None
            or isinstance(upload, str)
        ):
            return error(400, _graph_error(100, "Invalid parameter", "file and messaging_product"))
        data = await upload.read()
        mime = fields.get("type") or upload.content_type or "application/octet-stream"
        return JSONResponse({"id": state.add_media(data, mime)})

    @app.get("/{version}/{media_id}")
    async def media_url(media_id: str, request: Request) -> Response:
        state.record(request, None)
        if not state.token_ok(None, request.headers.get("authorization")):
            return unauthorized()
        failed = await fail("media_url")
        if failed is not None:
            return failed
        if media_id not in state.media:
            return error(400, _graph_error(100, "Unsupported get request"))
        data, mime = state.media[media_id]
        answer = _corpus("send/media_url.response.json")
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

    return app


def parse_args(
    argv: list[str] | None, description: str
) -> tuple[argparse.Namespace, dict[str, str]]:
    """The sandbox process's options and its `{phone_number_id: token}` map."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--token-file", help='JSON {"<phone_number_id>": "<token>"}')
    parser.add_argument("--accept-any-token", action="store_true")
    args = parser.parse_args(argv)
    tokens = json.loads(Path(args.token_file).read_text()) if args.token_file else {}
    return args, tokens


def main(argv: list[str] | None = None) -> None:
    """Run the fake as a process (sends and media only; `walocal.graph_admin` adds the
    account endpoints)."""
    import uvicorn

    args, tokens = parse_args(argv, "Fake Meta Graph API")
    state = GraphState(tokens=tokens, accept_any_token=args.accept_any_token)
    uvicorn.run(make_graph_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
