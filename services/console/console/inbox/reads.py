"""The inbox's reads: the conversation list, one conversation, its thread and a message's file."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request, Response

from console.inbox import queries
from console.inbox.access import (
    NOT_FOUND,
    Deps,
    Scope,
    Tenant,
    User,
    conversation_or_404,
    http_client,
    uuid_or_404,
)
from console.inbox.media import media_response
from console.inbox.serialize import (
    conversation_json,
    decode_cursor,
    encode_cursor,
    json_response,
    message_json,
)

PAGE = 50
THREAD_PAGE = 50


async def list_conversations(
    scope: Scope,
    state: Annotated[str, Query(pattern="^(human|bot|closed|opted_out|all)$")] = "all",
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE,
) -> Response:
    """The tenant's conversations, newest activity first; `next_cursor` pages on."""
    deps, user, tenant = scope.deps, scope.user, scope.tenant
    after = None
    if cursor:
        decoded = decode_cursor(cursor)
        if decoded is None:
            raise HTTPException(422, "cursor inválido")
        after = (decoded[0], uuid_or_404(decoded[1]))
    rows = await queries.list_conversations(
        deps.pool,
        tenant,
        user.id,
        state=None if state == "all" else state,
        q=q.strip() if q and q.strip() else None,
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = (
        encode_cursor(last["last_message_at"], str(last["id"]))
        if more and last is not None and last["last_message_at"] is not None
        else None
    )
    return json_response(
        {"conversations": [conversation_json(r) for r in rows], "next_cursor": next_cursor}
    )


async def get_conversation(conversation_id: str, scope: Scope) -> Response:
    row = await conversation_or_404(
        scope.deps, scope.tenant, scope.user, uuid_or_404(conversation_id)
    )
    return json_response(conversation_json(row))


async def list_messages(
    conversation_id: str,
    scope: Scope,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = THREAD_PAGE,
) -> Response:
    """The thread in order (oldest first); `before` = the oldest id shown pages back."""
    deps, tenant = scope.deps, scope.tenant
    cid = uuid_or_404(conversation_id)
    found = await queries.thread(deps.pool, tenant, cid, before=before, limit=limit + 1)
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    rows = found
    more = len(rows) > limit
    rows = rows[-limit:] if more else rows
    bursts = sorted({r["burst_id"] for r in rows if r["role"] == "bot" and r["burst_id"]})
    tools: dict[str, list[dict[str, Any]]] = {}
    if bursts:
        tools = await queries.tool_calls(
            deps.pool,
            tenant,
            cid,
            bursts,
            rows[0]["created_at"] - timedelta(hours=1),
            rows[-1]["created_at"] + timedelta(hours=1),
        )
    shown: set[str] = set()
    out = []
    for r in rows:
        calls = None
        burst = r["burst_id"]
        if r["role"] == "bot" and burst and burst not in shown:
            shown.add(burst)
            calls = tools.get(burst)
        out.append(message_json(r, calls))
    return json_response({"messages": out, "before": rows[0]["id"] if more and rows else None})


async def media(
    message_id: int, request: Request, deps: Deps, user: User, tenant: Tenant
) -> Response:
    """A message's file with its content type (stored, or downloaded from the provider)."""
    return await media_response(deps, http_client(request), str(tenant), message_id)
