"""Asks the dependencies (database, Redis, broker) whether they answer right now.

Used by `/readyz` and by consumers deciding whether a failure is an outage (pause) or the
message's own (retry ladder). During an outage every in-flight message fails at once, so
concurrent questions about one dependency share a single probe instead of each opening a
connection to a server that is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

Check = Callable[[], Awaitable[object]]


class DependencyProbe:
    """Runs named checks with a timeout; a check that raises or times out is unavailable."""

    def __init__(self, checks: Mapping[str, Check], *, timeout_s: float) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._inflight: dict[str, asyncio.Task[str]] = {}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._checks)

    async def _run(self, name: str) -> str:
        try:
            await asyncio.wait_for(self._checks[name](), self._timeout_s)
        except Exception as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    def _probe(self, name: str) -> asyncio.Task[str]:
        task = self._inflight.get(name)
        if task is None:
            task = asyncio.create_task(self._run(name))
            self._inflight[name] = task
            task.add_done_callback(lambda _t: self._inflight.pop(name, None))
        return task

    async def status(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """Each dependency asked about (default: all): "ok" or why it is not reachable."""
        wanted = sorted(self.names if names is None else self.names & set(names))
        # shield: a caller cancelled mid-probe must not cancel the probe others wait on
        results = await asyncio.gather(*(asyncio.shield(self._probe(n)) for n in wanted))
        return dict(zip(wanted, results, strict=True))

    async def unavailable(self, names: Iterable[str] | None = None) -> list[str]:
        """The dependencies among `names` (default: all) that do not answer now."""
        return [n for n, state in (await self.status(names)).items() if state != "ok"]
