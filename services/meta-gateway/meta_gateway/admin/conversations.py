"""Admin routes for conversations: list with state, operator handover and resume."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from meta_gateway.admin.auth import ADMIN_RESPONSES, MAX_OFFSET, parse_id, require_admin
from meta_gateway.admin.models import DbInt
from wacommon.conversation import state as conversation_state
from wacommon.infra.settings import Settings
from wacommon.repositories import conversations as conv_repo
from wacommon.web.api_types import NUL_FREE, NulFreeStr, TenantPath
from wacommon.web.http_errors import error_responses

State = Literal["bot", "human", "opted_out", "closed"]


class ConversationOut(BaseModel):
    id: str
    contact_key: str
    contact_phone: str | None
    contact_name: str | None
    provider: str
    state: str
    state_since: datetime
    state_reason: str | None
    state_until: datetime | None
    last_message_at: datetime | None
    followup_stage: int


class HandoverIn(BaseModel):
    model_config = ConfigDict(strict=True)

    reason: NulFreeStr = Field(default="operator", max_length=200)
    minutes: Annotated[DbInt, Field(ge=1, le=60 * 24 * 30)] | None = Field(
        default=None, description="omit to keep the human until resumed"
    )


class ResumeIn(BaseModel):
    model_config = ConfigDict(strict=True)

    reason: NulFreeStr = Field(default="operator", max_length=200)
    clear_opt_out: bool = Field(default=False, description="also lift a customer's opt-out")


def _out(row: dict[str, Any]) -> ConversationOut:
    return ConversationOut(
        **{**{k: row[k] for k in ConversationOut.model_fields if k != "id"}, "id": str(row["id"])}
    )


class ConversationRoutes:
    """The conversation routes, bound to the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def load(self, tenant_id: str, conversation_id: str) -> tuple[str, str]:
        """(tenant id, conversation id) of a conversation of that tenant, or 404."""
        cid = parse_id(tenant_id, "client")
        conv_id = parse_id(conversation_id, "conversation")
        if await conv_repo.get_conversation(self.pool, cid, conv_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "conversation not found")
        return cid, conv_id

    async def list_conversations(
        self,
        tenant_id: TenantPath,
        contact: str | None = Query(None, pattern=NUL_FREE),
        state: State | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> list[ConversationOut]:
        """Conversations with their state, since when and why."""
        rows = await conv_repo.list_conversations(
            self.pool,
            parse_id(tenant_id, "client"),
            contact=contact,
            state=state,
            limit=limit,
            offset=offset,
        )
        return [_out(r) for r in rows]

    async def handover(
        self, tenant_id: TenantPath, conversation_id: str, body: HandoverIn
    ) -> ConversationOut:
        """A human takes the conversation; the bot stays silent until resumed or the timeout."""
        cid, conv_id = await self.load(tenant_id, conversation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval("SELECT now()")
            until = now + timedelta(minutes=body.minutes) if body.minutes else None
            ok = await conversation_state.handover(
                conn, cid, conv_id, cause=f"operator:{body.reason}", until=until
            )
        if not ok:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "conversation cannot be handed over in its state"
            )
        row = await conv_repo.get_conversation(self.pool, cid, conv_id)
        assert row is not None
        return _out(row)

    async def resume(
        self, tenant_id: TenantPath, conversation_id: str, body: ResumeIn
    ) -> ConversationOut:
        """The bot answers again (and, if asked, an opt-out is cleared)."""
        cid, conv_id = await self.load(tenant_id, conversation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await conversation_state.resume(
                conn, cid, conv_id, cause=f"operator:{body.reason}"
            )
            if not ok and body.clear_opt_out:
                ok = await conversation_state.clear_opt_out(
                    conn, cid, conv_id, cause=f"operator:{body.reason}"
                )
        if not ok:
            raise HTTPException(status.HTTP_409_CONFLICT, "conversation is not in human handover")
        row = await conv_repo.get_conversation(self.pool, cid, conv_id)
        assert row is not None
        return _out(row)


def conversations_router(settings: Settings, pool: asyncpg.Pool) -> APIRouter:
    """`/admin/clients/{id}/conversations` and the handover/resume actions."""
    router = APIRouter(
        prefix="/admin/clients/{client_id}/conversations",
        tags=["conversations"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    routes = ConversationRoutes(pool)
    router.add_api_route(
        "", routes.list_conversations, methods=["GET"], response_model=list[ConversationOut]
    )
    router.add_api_route(
        "/{conversation_id}/handover",
        routes.handover,
        methods=["POST"],
        response_model=ConversationOut,
        responses=error_responses({409: "the conversation cannot be handed over in its state"}),
    )
    router.add_api_route(
        "/{conversation_id}/resume",
        routes.resume,
        methods=["POST"],
        response_model=ConversationOut,
        responses=error_responses({409: "the conversation is not in human handover"}),
    )
    return router
