"""What the fake Uazapi and LancePilot servers share: recorded requests and programmed failures."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


@dataclass
class Recorded:
    """One request the fake received; `seq` orders them across the whole server."""

    seq: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    status: int
    # what the fake answered with (message ids), for sandbox readers
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status < 400

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "at": self.at,
            "status": self.status,
            "answer": self.answer,
        }


@dataclass
class Failure:
    """A programmed answer: an HTTP status, or a stall of `delay` seconds (a timeout)."""

    status: int | None
    path: str | None
    times: int
    delay: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class GatewayState:
    """Thread-safe: the server runs in a background thread while tests read the record."""

    def __init__(self, tokens: set[str] | None = None, *, accept_any_token: bool = False) -> None:
        self.tokens = set(tokens or ())
        self.accept_any_token = accept_any_token
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._seq = 0

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and (self.accept_any_token or token in self.tokens)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path: str | None = None,
        retry_after: float | None = None,
        error: str | None = None,
    ) -> None:
        """Answer the next `times` requests (to paths starting with `path`) with `status`."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"error": error or f"programmed failure {status}"}
        with self._lock:
            self.failures.append(Failure(status, path, times, body=body, headers=headers))

    def stall_next(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Hold the next `times` requests for `seconds` before answering normally."""
        with self._lock:
            self.failures.append(Failure(None, path, times, delay=seconds))

    def record(
        self, request: Request, body: Any, status: int, answer: dict[str, Any] | None = None
    ) -> Recorded:
        with self._lock:
            self._seq += 1
            item = Recorded(
                self._seq,
                request.method,
                request.url.path,
                dict(request.headers),
                body,
                time.time(),
                status,
                answer or {},
            )
            self.requests.append(item)
            return item

    def take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.path is None or path.startswith(failure.path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def after(self, seq: int, path_prefix: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.seq > seq and r.path.startswith(path_prefix)]

    def sent(self, path_prefix: str) -> list[Recorded]:
        """Accepted requests to `path_prefix` (the record of what would reach WhatsApp)."""
        return [r for r in self.after(0, path_prefix) if r.accepted]


async def read_json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def programmed(state: GatewayState, request: Request, body: Any) -> Response | None:
    """The programmed failure for this request, if any (recorded; after its stall)."""
    failure = state.take_failure(request.url.path)
    if failure is None:
        return None
    if failure.delay:
        await asyncio.sleep(failure.delay)
    if failure.status is None:
        return None
    state.record(request, body, failure.status)
    return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)


def sandbox_messages(state: GatewayState, request: Request, prefixes: tuple[str, ...]) -> Response:
    """`GET /_sandbox/messages?after=<seq>`: accepted sends as JSON, oldest first."""
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError:
        return JSONResponse({"error": "after must be an integer"}, status_code=400)
    items = [
        r.as_json()
        for r in state.after(after)
        if r.accepted and r.method == "POST" and r.path.startswith(prefixes)
    ]
    last = items[-1]["seq"] if items else after
    return JSONResponse({"messages": items, "last_seq": last})


def cli_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", action="append", default=[], help="a valid token (repeat)")
    parser.add_argument("--accept-any-token", action="store_true")
    parser.add_argument("--webhook-url", default=None, help="Uazapi: echo sends to this URL")
    return parser.parse_args()
