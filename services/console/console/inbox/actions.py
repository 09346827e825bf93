"""What attendants do to a conversation: take it over, release it to the bot, close it,
assign it, mark it read; every transition through `wacommon.conversation.state` with its
event, and every open page told afterwards."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Body, HTTPException, Request, Response

from console.inbox.access import (
    Deps,
    Tenant,
    User,
    conversation_or_404,
    exists_or_404,
    updated,
    uuid_or_404,
)
from console.inbox.models import AssignIn, CloseIn, TakeoverIn
from console.inbox.serialize import conversation_json, json_response
from wacommon.conversation import state as cs
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event


async def takeover(
    conversation_id: str,
    request: Request,
    deps: Deps,
    user: User,
    tenant: Tenant,
    body: Annotated[TakeoverIn | None, Body()] = None,
) -> Response:
    """Pause the bot for this conversation (for `minutes`, else until released/closed)."""
    cid = uuid_or_404(conversation_id)
    conv = await conversation_or_404(deps, tenant, user, cid)
    if conv["state"] == "opted_out":
        raise HTTPException(409, "o cliente pediu para não receber mensagens (opt-out)")
    minutes = body.minutes if body else None
    async with deps.pool.acquire() as conn, conn.transaction():
        now = await conn.fetchval("SELECT now()")
        until = now + timedelta(minutes=minutes) if minutes else None
        if conv["state"] == "human":
            # already held: the new takeover only sets when the pause ends (none =
            # until released); no transition, so no event (the dashboard counts takeovers)
            await conn.execute(
                "UPDATE active_conversations SET state_until = $3, state_reason = 'console',"
                " updated_at = now() WHERE client_id = $1 AND id = $2 AND state = 'human'",
                tenant,
                cid,
                until,
            )
        else:
            await cs.handover(conn, str(tenant), str(cid), cause="console", until=until)
        await _assign_if_free(conn, tenant, cid, user.id)
    return await updated(request, deps, tenant, user, cid, "console_takeover")


async def release(
    conversation_id: str, request: Request, deps: Deps, user: User, tenant: Tenant
) -> Response:
    """Back to the bot; what the attendants wrote meanwhile is in its next context."""
    cid = uuid_or_404(conversation_id)
    conv = await conversation_or_404(deps, tenant, user, cid)
    if conv["state"] != "human":
        raise HTTPException(409, "a conversa não está com um atendente")
    async with deps.pool.acquire() as conn:
        moved = await cs.resume(conn, str(tenant), str(cid), cause="console")
    if not moved:
        raise HTTPException(409, "a conversa não está com um atendente")
    return await updated(request, deps, tenant, user, cid, "console_release")


async def close(
    conversation_id: str,
    body: CloseIn,
    request: Request,
    deps: Deps,
    user: User,
    tenant: Tenant,
) -> Response:
    """Close: `resolved` counts as resolved by a human on the dashboard."""
    cid = uuid_or_404(conversation_id)
    conv = await conversation_or_404(deps, tenant, user, cid)
    if conv["state"] not in ("bot", "human"):
        raise HTTPException(409, "só conversas abertas (robô ou atendente) podem ser fechadas")
    resolved = body.resolution == "resolved"
    async with deps.pool.acquire() as conn:
        moved = await cs.close(
            conn,
            str(tenant),
            str(cid),
            by="human",
            cause=f"console:{body.resolution}",
            event=ev.RESOLVED if resolved else ev.CONVERSATION_CLOSED,
            extra={
                "resolved_by": "human",
                "resolution": body.resolution,
                "user_id": str(user.id),
            },
        )
    if not moved:
        raise HTTPException(409, "a conversa mudou de estado; recarregue")
    return await updated(request, deps, tenant, user, cid, "console_close")


async def assign(
    conversation_id: str,
    body: AssignIn,
    request: Request,
    deps: Deps,
    user: User,
    tenant: Tenant,
) -> Response:
    """Give the conversation to a user of this tenant (`null` unassigns)."""
    cid = uuid_or_404(conversation_id)
    await conversation_or_404(deps, tenant, user, cid)
    async with deps.pool.acquire() as conn, conn.transaction():
        if body.user_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM console_users WHERE id = $1 AND client_id = $2"
            " AND is_active)",
            body.user_id,
            tenant,
        ):
            raise HTTPException(404, "usuário não encontrado")
        await conn.execute(
            "UPDATE active_conversations SET assigned_user_id = $3, updated_at = now()"
            " WHERE client_id = $1 AND id = $2",
            tenant,
            cid,
            body.user_id,
        )
        await record_event(
            conn,
            str(tenant),
            ev.CONVERSATION_ASSIGNED,
            {
                "user_id": str(body.user_id) if body.user_id else None,
                "by": str(user.id),
            },
            conversation_id=str(cid),
        )
    return await updated(request, deps, tenant, user, cid, "console_assign")


async def mark_read(conversation_id: str, deps: Deps, user: User, tenant: Tenant) -> Response:
    """Everything in the conversation is read for this user."""
    cid = uuid_or_404(conversation_id)
    await exists_or_404(deps, tenant, cid)
    await deps.pool.execute(
        "INSERT INTO console_reads (user_id, conversation_id, client_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = now()",
        user.id,
        cid,
        tenant,
    )
    return json_response(conversation_json(await conversation_or_404(deps, tenant, user, cid)))


async def _assign_if_free(conn: Any, tenant: UUID, cid: UUID, user_id: UUID) -> None:
    await conn.execute(
        "UPDATE active_conversations SET assigned_user_id = coalesce(assigned_user_id, $3)"
        " WHERE client_id = $1 AND id = $2",
        tenant,
        cid,
        user_id,
    )
