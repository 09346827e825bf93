"""An ASGI layer that caps request bodies before any route, secret check or parser sees them.

A body that announces a length over the cap is refused at once; a body that does
not (chunked) is counted as it streams and refused as soon as it passes the cap.
Either way the answer is 413 with the cap in the reason and the app is never
called. A body under the cap is handed to the app whole (it is at most the cap).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson
import structlog
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

BODIES_REFUSED = Counter(
    "wa_http_body_refused_total", "Request bodies refused for size", ["reason"]
)


class BodyLimit:
    """Wraps an ASGI app: bodies over `default` bytes (or a route's own cap) get 413."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        routes: Mapping[str, int] | None = None,
        *,
        setting: str = "HTTP_MAX_BODY_BYTES",
    ) -> None:
        self.app = app
        self.default = default
        self.routes = [(re.compile(pattern), cap) for pattern, cap in (routes or {}).items()]
        self.setting = setting

    def cap_for(self, path: str) -> int:
        for pattern, cap in self.routes:
            if pattern.fullmatch(path):
                return cap
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope.get("path", ""))
        announced = _content_length(scope)
        if announced == -1:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if announced is not None and announced > cap:
            BODIES_REFUSED.labels("announced").inc()
            await _answer(send, 413, self._reason(cap))
            return
        # read the body here, before routing: a route that never reads it (a 405, a 401
        # decided on headers) must not leave a streaming client free to send without end
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body ended
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > cap:
                BODIES_REFUSED.labels("streamed").inc()
                log.warning("request_body_too_large", path=scope.get("path"), cap=cap)
                await _answer(send, 413, self._reason(cap))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _reason(self, cap: int) -> str:
        return f"request body over {cap} bytes ({self.setting})"


def _content_length(scope: Scope) -> int | None:
    """The announced length; None when absent; -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def _answer(send: Send, status: int, reason: str) -> None:
    body = orjson.dumps({"error": reason})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
