"""Every fuzz target served by real uvicorn servers on one background event loop.

Each service opens its own `Runtime` (pool, broker, Redis) on that loop, exactly as its
`main` does, but no consumer or background loop runs: the fuzzer measures the HTTP
surface. Each app is wrapped in `StatusCounter`, so the figures (requests answered, 5xx)
come from the servers themselves, not from the fuzzer's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.server import free_port
from tests.fuzz.targets import TARGETS, Target
from wacommon.service.runtime import Runtime

SCHEMA_PATH = "/openapi.json"
# requests the harness itself makes (seeding a tenant) carry this and are not counted
SEEDING_HEADER = "x-fuzz-seeding"


@dataclass
class StatusCounter:
    """ASGI wrapper counting answered requests by status code (the harness's own excluded)."""

    app: ASGIApp
    statuses: Counter[int] = field(default_factory=Counter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] == SCHEMA_PATH
            or any(name == SEEDING_HEADER.encode() for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        answered = False

        async def counting_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                self.statuses[int(message["status"])] += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            # uvicorn answers an escaped exception with a 500 the wrapper never sees
            if not answered:
                self.statuses[500] += 1
            raise

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)


@dataclass
class Served:
    """One target being served."""

    target: Target
    url: str
    counter: StatusCounter


class FuzzStack:
    """Start every target (or the named ones) in a thread; `served` lists them once up."""

    def __init__(self, env: Mapping[str, str], names: list[str] | None = None) -> None:
        self.env = dict(env)
        self.targets = [t for t in TARGETS if names is None or t.name in names]
        self.served: list[Served] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-stack", daemon=True)

    def start(self, timeout: float = 120) -> FuzzStack:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("fuzz stack did not start")
        if self._error is not None:
            raise RuntimeError("fuzz stack failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            for target in self.targets:
                with mock.patch.dict(os.environ, self.env):
                    settings = target.settings_class(_env_file=None, service_name=target.name)
                runtime = await stack.enter_async_context(
                    Runtime(settings, migrate=False, broker=target.broker)
                )
                counter = StatusCounter(target.build(runtime))
                port = free_port()
                server = uvicorn.Server(
                    uvicorn.Config(
                        counter,
                        host="127.0.0.1",
                        port=port,
                        log_level="warning",
                        access_log=False,
                        lifespan="off",
                    )
                )
                server_task = asyncio.create_task(server.serve())
                # exit order is reversed: tell the server to stop, then wait for it
                stack.push_async_callback(_awaited, server_task)
                stack.push_async_callback(_stopped, server)
                while not server.started:
                    if server_task.done():
                        server_task.result()
                        raise RuntimeError(f"{target.name} did not start")
                    await asyncio.sleep(0.01)
                self.served.append(Served(target, f"http://127.0.0.1:{port}", counter))
            self._ready.set()
            await self._stop.wait()


async def _stopped(server: uvicorn.Server) -> None:
    server.should_exit = True


async def _awaited(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 30)


@contextlib.contextmanager
def fuzz_stack(env: Mapping[str, str], names: list[str] | None = None) -> Iterator[FuzzStack]:
    stack = FuzzStack(env, names).start()
    try:
        yield stack
    finally:
        stack.stop()
