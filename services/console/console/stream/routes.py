"""`GET /api/events`: the session's tenant's live events as server-sent events.

Order of a connection (why nothing is lost between the replay and the live feed):
1. subscribe to the hub first: from now on every notification for the tenant is held
   in the subscriber's queue;
2. with `Last-Event-ID`, replay from the database what changed since (see `replay`),
   then deliver the held live events, skipping those the replay already sent. A change
   committed before the replay's snapshot is in the replay; one committed after it is
   published after its commit, so after step 1, and is held live. Both: sent once.
3. then live events as they come, a heartbeat comment when idle; a `resync` from the hub
   (broker reconnect, slow reader) replays again from the last id sent.
Every id sent is greater than the one before, so a browser's `Last-Event-ID` is always
the newest point it saw.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from console.auth.deps import current_user, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.stream.hub import LiveEvent, StreamHub, Subscriber
from console.stream.replay import dedupe_key, replay, since_of

HEARTBEAT_S = 15.0
REPLAY_LOOKBACK_S = 30.0
REPLAY_LIMIT = 2000
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def hub_of(request: Request) -> StreamHub:
    """The process's hub (one per app), created on first use."""
    hub: StreamHub | None = getattr(request.app.state, "stream_hub", None)
    if hub is None:
        deps: ConsoleDeps = request.app.state.deps
        hub = StreamHub(deps.connection, deps.settings)
        request.app.state.stream_hub = hub
    return hub


def _frame(event_id: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw and raw.strip().isdigit():
        return int(raw.strip())
    return None


class _Stream:
    def __init__(
        self, request: Request, deps: ConsoleDeps, hub: StreamHub, sub: Subscriber, tenant: str
    ) -> None:
        self.request = request
        self.deps = deps
        self.hub = hub
        self.sub = sub
        self.tenant = tenant
        self.last_id = 0

    def frame(self, event: LiveEvent) -> str:
        self.last_id = max(self.last_id + 1, event.id)
        return _frame(self.last_id, event.kind, event.data)

    async def replayed(self, since_id: int) -> AsyncIterator[str]:
        """The replay since `since_id`, then what the hub held meanwhile (deduplicated)."""
        async with self.deps.pool.acquire() as conn:
            events, complete = await replay(
                conn,
                self.tenant,
                since_of(since_id, REPLAY_LOOKBACK_S),
                limit=REPLAY_LIMIT,
            )
        seen = {dedupe_key(e) for e in events}
        for event in events:
            yield self.frame(event)
        if not complete:
            # too much to replay: the page reloads what it shows
            yield self.frame(LiveEvent(self.hub.next_id(), "resync", {}))
        held: list[LiveEvent] = []
        while not self.sub.queue.empty():
            held.append(self.sub.queue.get_nowait())
        for event in held:
            if event.resync or dedupe_key(event) in seen:
                continue
            yield self.frame(event)

    async def run(self, since_id: int | None) -> AsyncIterator[str]:
        try:
            yield f"retry: 3000\n: connected {self.hub.next_id()}\n\n"
            if since_id is not None:
                async for chunk in self.replayed(since_id):
                    yield chunk
            while True:
                if self.sub.overflowed:
                    self.sub.overflowed = False
                    self._drain()
                    async for chunk in self.replayed(self.last_id or self.hub.next_id()):
                        yield chunk
                    continue
                try:
                    event = await asyncio.wait_for(self.sub.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await self.request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
                    continue
                if event.resync:
                    async for chunk in self.replayed(self.last_id or event.id):
                        yield chunk
                    continue
                yield self.frame(event)
        finally:
            self.hub.unsubscribe(self.sub)

    def _drain(self) -> None:
        while not self.sub.queue.empty():
            self.sub.queue.get_nowait()


def stream_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/events", response_class=StreamingResponse)
    async def events(
        request: Request,
        user: CurrentUser = Depends(current_user),
        tenant: UUID = Depends(tenant_scope),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> StreamingResponse:
        """The tenant's events (`message.created`, `message.status`, `conversation.updated`,
        `handover.requested`); send `Last-Event-ID` to resume after a reconnect."""
        hub = hub_of(request)
        await hub.start()
        sub = hub.subscribe(str(tenant))
        stream = _Stream(request, deps, hub, sub, str(tenant))
        return StreamingResponse(
            stream.run(_last_event_id(request)),
            media_type="text/event-stream",
            headers=HEADERS,
        )

    return router
