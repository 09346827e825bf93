"""The fake Graph account management's state: the app, its one-time codes, issued tokens,
WABAs and numbers, the requests it received, and the failures a test queues for it."""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request


def graph_error(status: int, code: int, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    """A Graph error answer `(status, body)`."""
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, **extra}
    err["fbtrace_id"] = uuid.uuid4().hex[:20]
    return status, {"error": err}


FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "bad_code": graph_error(400, 100, "Invalid verification code format.", error_subcode=36008),
    "token_expired": graph_error(
        401, 190, "Error validating access token: Session has expired", error_subcode=463
    ),
    "permission": graph_error(403, 200, "(#200) Permissions error"),
    "rate_limit": graph_error(400, 80007, "(#80007) Rate limit issues"),
    "pin_mismatch": graph_error(400, 133005, "(#133005) Two step verification PIN Mismatch"),
    "server_error": graph_error(500, 2, "(#2) Service temporarily unavailable"),
}


@dataclass
class Phone:
    """A business number under a WABA."""

    display_phone_number: str
    verified_name: str
    waba_id: str
    pin: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class Waba:
    """A WhatsApp Business Account: subscribed apps and templates."""

    subscribed_apps: set[str] = field(default_factory=set)
    templates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AdminRecord:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    json: Any


@dataclass
class GraphAdminState:
    """The app, its one-time codes, issued tokens, WABAs, numbers and a failure queue."""

    app_id: str = "1234567890"
    app_secret: str = "app-secret"  # noqa: S105 - a fake app's
    # the key the code exchange answers with ("access_token"; pywa documents "business_token")
    token_key: str = "access_token"  # noqa: S105 - a key name
    # the offline sandbox knows no app: any client_id / client_secret may exchange a code
    accept_any_app: bool = False
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    wabas: dict[str, Waba] = field(default_factory=dict)
    phones: dict[str, Phone] = field(default_factory=dict)
    requests: list[AdminRecord] = field(default_factory=list)
    _failures: dict[str, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_waba(self, waba_id: str, phones: dict[str, str], verified_name: str = "Loja") -> None:
        """A WABA with numbers `{phone_number_id: display_phone_number}`."""
        with self._lock:
            self.wabas.setdefault(waba_id, Waba())
            for phone_id, display in phones.items():
                self.phones[phone_id] = Phone(display, verified_name, waba_id)

    def add_code(self, code: str, token: str, waba_id: str) -> None:
        """A one-time code that exchanges for `token`, which reaches `waba_id` and its numbers."""
        with self._lock:
            self.codes[code] = (token, waba_id)

    def add_token(self, token: str, waba_id: str) -> None:
        """A business token already issued for `waba_id`."""
        with self._lock:
            self.tokens[token] = waba_id

    def fail_next(self, edge: str, kind: str, n: int = 1) -> None:
        """The next `n` calls to `edge` (oauth, subscribed_apps, register, phone,
        message_templates, whatsapp_business_profile) fail with FAILURES[kind]."""
        with self._lock:
            self._failures.setdefault(edge, deque()).extend([kind] * n)

    def redeem(self, code: str) -> tuple[str, str] | None:
        """Use a one-time code: `(token, waba_id)`, the token now issued; None if unknown or used."""
        with self._lock:
            grant = self.codes.pop(code, None)
            if grant:
                self.tokens[grant[0]] = grant[1]
        return grant

    def take_failure(self, edge: str) -> str | None:
        with self._lock:
            queue = self._failures.get(edge)
            return queue.popleft() if queue else None

    def calls(self, suffix: str) -> list[AdminRecord]:
        """Recorded requests whose path ends with `suffix`."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def record(self, request: Request, body: Any) -> None:
        rec = AdminRecord(
            request.method,
            request.url.path,
            dict(request.query_params),
            request.headers.get("authorization"),
            body,
        )
        with self._lock:
            self.requests.append(rec)

    def waba_of_token(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            return self.tokens.get(authorization.removeprefix("Bearer "))
