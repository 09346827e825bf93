"""The fake Graph API's state: the tokens it accepts, the media it holds, every request it
received (sends numbered in order) and the failures a test queues; and the recorded Meta
answers (the repository's corpus) the fake replies with."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Request

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


def corpus(name: str) -> dict[str, Any]:
    """One recorded Graph answer of the corpus, parsed afresh."""
    data: dict[str, Any] = json.loads((CORPUS / name).read_text())
    return data


def graph_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    """A Graph error body with a fresh trace id."""
    err: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
    }
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    err["fbtrace_id"] = uuid.uuid4().hex[:20]
    return {"error": err}


def failure_response(kind: str) -> tuple[int, dict[str, Any]]:
    """The `(status, body)` Meta answers for a failure kind."""
    if kind == "rate_limit":
        return 429, corpus("errors/130429_rate_limit_hit.http_reconstructed.json")
    if kind == "pair_rate_limit":
        return 400, corpus("errors/131056_pair_rate_limit.http_reconstructed.json")
    if kind == "token_expired":
        return 401, corpus("errors/190_access_token_expired.json")
    if kind == "reengagement":
        obj = corpus("errors/131047_reengagement.object.json")
        return 400, graph_error(131047, obj["title"], obj["error_data"]["details"])
    if kind == "not_found":
        return 404, graph_error(100, "Unsupported get request")
    return 500, graph_error(2, "Service temporarily unavailable")


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
            and (to is None or recipient(r.json) == to)
        ]

    def read_receipts(self) -> list[Recorded]:
        """Mark-read (and typing indicator) requests."""
        with self._lock:
            return [
                r for r in self.requests if r.json is not None and r.json.get("status") == "read"
            ]


def recipient(body: dict[str, Any]) -> str:
    """The number a send goes to, without its plus sign."""
    return str(body.get("to") or body.get("recipient") or "").lstrip("+")
