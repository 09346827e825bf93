"""Services as real processes for end-to-end tests, with webhook helpers."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.fakes.server import free_port
from wacommon.providers.meta.webhook_checks import sign

if TYPE_CHECKING:
    from walocal.graph_state import GraphState

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
LOG_DIR = ROOT / ".run" / "e2e-logs"
# a takeover window of 3 s for the sender (it refuses a window shorter than the provider
# call's deadline plus the record's, see sender.deps.check_send_timing)
# every browser test signs in from 127.0.0.1 and a run shares one Redis prefix: the
# per-address sign-in limit (tested in test_console_auth) would refuse the run's later tests
BROWSER_SIGN_INS = {"CONSOLE_LOGIN_MAX_PER_ADDRESS": "100000"}
SHORT_SEND_WINDOW = {
    "SEND_RECONCILE_S": "3",
    "SEND_HTTP_TIMEOUT_S": "2.5",
    "SEND_RECORD_TIMEOUT_S": "0.25",
}


@dataclass
class Service:
    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"{self.name}-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.name.replace("-", "_")],
            env={**os.environ, **self.env, "SERVICE_NAME": self.name, "HTTP_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@dataclass
class Stack:
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    def add(self, name: str, extra: dict[str, str] | None = None) -> Service:
        svc = Service(name, free_port(), {**BROWSER_SIGN_INS, **self.env, **(extra or {})})
        self.services[f"{name}-{svc.port}"] = svc
        return svc

    async def start(self, *services: Service) -> None:
        for svc in services:
            svc.start()
        async with httpx.AsyncClient() as client:
            for svc in services:
                await wait_ready(client, svc)

    def stop_all(self, timeout: float = 20) -> None:
        """SIGTERM every service at once, then wait for them together (one slow drain must
        not add its whole grace period per service to the run)."""
        live = [s for s in self.services.values() if s.process and s.process.poll() is None]
        for svc in live:
            assert svc.process is not None
            svc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for svc in live:
            svc.stop(timeout=max(0.1, deadline - time.monotonic()))


async def wait_ready(client: httpx.AsyncClient, svc: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if svc.process is not None and svc.process.poll() is not None:
            raise RuntimeError(f"{svc.name} exited with {svc.process.returncode}; see {LOG_DIR}")
        try:
            resp = await client.get(f"{svc.url}/readyz", timeout=2)
            if resp.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{svc.name} not ready in {timeout}s; see {LOG_DIR}")


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 20, every: float = 0.1
) -> Any:
    """Poll until `check` returns a truthy value; that value is returned."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not reached in {timeout}s (last: {last!r})")


def meta_text(
    phone_id: str,
    display: str,
    sender: str,
    text: str,
    wamid: str | None = None,
    name: str = "Cliente",
) -> dict[str, Any]:
    """A one-message Meta webhook built from the real corpus payload."""
    body = json.loads((CORPUS / "meta" / "inbound_text.json").read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": display, "phone_number_id": phone_id}
    value["contacts"] = [{"profile": {"name": name}, "wa_id": sender}]
    msg = value["messages"][0]
    msg.update(
        {
            "from": sender,
            "id": wamid or f"wamid.{uuid.uuid4().hex}",
            "timestamp": str(int(time.time())),
            "text": {"body": text},
        }
    )
    return body


def meta_status(
    phone_id: str,
    display: str,
    wamid: str,
    status: str,
    recipient: str,
    callback: str | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    name = "status_failed_131047.json" if status == "failed" else "status_sent.json"
    body = json.loads((CORPUS / "meta" / name).read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": display, "phone_number_id": phone_id}
    st = value["statuses"][0]
    st.update(
        {
            "id": wamid,
            "status": status,
            "recipient_id": recipient,
            "timestamp": str(int(time.time())),
        }
    )
    if callback:
        st["biz_opaque_callback_data"] = callback
    if error_code is not None:
        st["errors"] = [{"code": error_code, "title": "failed"}]
    return body


def signed(body: dict[str, Any] | bytes, secret: str) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {"content-type": "application/json", "x-hub-signature-256": sign(raw, secret)}


def two_tenant_batch(a: tuple[str, str], b: tuple[str, str], sender: str) -> dict[str, Any]:
    """One POST carrying a message for each of two business numbers (two WABAs)."""
    first = meta_text(a[0], a[1], sender, "Oi, loja A?")
    second = meta_text(b[0], b[1], sender, "Oi, loja B?")
    first["entry"].append(copy.deepcopy(second["entry"][0]))
    return first


async def post_meta_statuses(
    graph: GraphState, http: httpx.AsyncClient, phone: str, display: str, secret: str
) -> None:
    """Meta's part after a send: a `sent` status webhook for every accepted message, echoing
    the row id the sender put in `biz_opaque_callback_data` (run it as a task, cancel at the
    end). A send Meta accepted but whose answer the sender never saw (killed, or timed out on
    a loaded machine) is reconciled by this, as in production, instead of being sent again
    when the takeover window passes."""
    seen = 0
    unsent: list[tuple[bytes, dict[str, str]]] = []
    while True:
        for rec in graph.sent_messages(after=seen):
            seen = max(seen, rec.seq)
            body = rec.json or {}
            callback = body.get("biz_opaque_callback_data")
            if not callback or not rec.response_id:
                continue
            unsent.append(
                signed(
                    meta_status(
                        phone, display, rec.response_id, "sent", str(body.get("to")), callback
                    ),
                    secret,
                )
            )
        failed = []
        for raw, headers in unsent:
            # Meta retries a status webhook that got no 200 (an outage in the middle)
            try:
                resp = await http.post("/meta/webhook", content=raw, headers=headers)
                ok = resp.status_code == 200
            except httpx.HTTPError:
                ok = False
            if not ok:
                failed.append((raw, headers))
        unsent = failed
        await asyncio.sleep(0.2)
