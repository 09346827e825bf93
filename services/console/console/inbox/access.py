"""What every inbox route shares: the tenant-scoped lookups (another tenant's id is 404), the
dependencies of a request, and the notifier that tells every open page about a change."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import Depends, HTTPException, Request, Response

from console.auth.deps import Scoped, current_user, scoped, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.inbox import queries
from console.inbox.serialize import conversation_json, json_response, message_json
from wacommon.broker.notify import BrokerNotifier, Kind, Notifier, NullNotifier

NOT_FOUND = "conversa não encontrada"

Deps = Annotated[ConsoleDeps, Depends(get_deps)]
User = Annotated[CurrentUser, Depends(current_user)]
Tenant = Annotated[UUID, Depends(tenant_scope)]
# the same three in one dependency (the hot reads: list, conversation, thread)
Scope = Annotated[Scoped, Depends(scoped)]


def page_notifier(request: Request) -> Notifier:
    """The app's notifier, opened on first use (a null one without a broker)."""
    found: Notifier | None = getattr(request.app.state, "inbox_notifier", None)
    if found is None:
        deps: ConsoleDeps = request.app.state.deps
        found = (
            BrokerNotifier(deps.connection, deps.settings)
            if deps.connection is not None
            else NullNotifier()
        )
        request.app.state.inbox_notifier = found
    return found


def http_client(request: Request) -> httpx.AsyncClient:
    """The app's HTTP client for provider calls (media, templates), opened on first use."""
    found: httpx.AsyncClient | None = getattr(request.app.state, "inbox_http", None)
    if found is None:
        found = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        request.app.state.inbox_http = found
    return found


def uuid_or_404(value: str) -> UUID:
    """A conversation id from the path; one that is not a UUID is not found."""
    try:
        return UUID(value)
    except ValueError:
        raise HTTPException(404, NOT_FOUND) from None


async def conversation_or_404(
    deps: ConsoleDeps, tenant: UUID, user: CurrentUser, cid: UUID
) -> dict[str, Any]:
    """The tenant's conversation as this user sees it, or 404."""
    row = await queries.get_conversation(deps.pool, tenant, user.id, cid)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def exists_or_404(deps: ConsoleDeps, tenant: UUID, cid: UUID) -> None:
    """404 unless the tenant has this conversation."""
    found = await deps.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM active_conversations WHERE client_id = $1 AND id = $2)",
        tenant,
        cid,
    )
    if not found:
        raise HTTPException(404, NOT_FOUND)


async def message_body(deps: ConsoleDeps, tenant: UUID, message_id: int) -> dict[str, Any]:
    """One stored message of the tenant as the API shows it."""
    row = await deps.pool.fetchrow(
        "SELECT m.id, m.direction, m.role, m.kind, m.content, m.media, m.payload, m.status,"
        " m.error_code, m.error_detail, m.sent_at, m.delivered_at, m.read_at, m.failed_at,"
        " m.created_at, m.provider_sent_at, m.burst_id, m.author_user_id, u.name AS author_name"
        " FROM chat_messages m LEFT JOIN console_users u ON u.id = m.author_user_id"
        " WHERE m.client_id = $1 AND m.id = $2",
        tenant,
        message_id,
    )
    assert row is not None
    return message_json(dict(row))


async def updated(
    request: Request, deps: ConsoleDeps, tenant: UUID, user: CurrentUser, cid: UUID, cause: str
) -> Response:
    """The conversation after a change, announced to every open page."""
    row = await conversation_or_404(deps, tenant, user, cid)
    kind: Kind = "conversation.updated"
    await page_notifier(request).notify(
        str(tenant), str(cid), kind, state=row["state"], cause=cause
    )
    return json_response(conversation_json(row))
