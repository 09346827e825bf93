"""Admin simulator: try a tenant's real responder before going live (PRODUCT.md F2).

Turns are stored as `chat_messages` of a `sandbox` conversation keyed "SIM:<session>", so
history works across calls; nothing is published, so nothing reaches a provider, and no
event is logged, so the dashboard does not count simulated traffic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from meta_gateway.admin.auth import ADMIN_RESPONSES, parse_id, require_admin
from meta_gateway.admin.simulator_store import store_burst, store_replies
from waai import context_window
from waai.llm.config import AISettings
from waai.responders.responder import (
    Responder,
    ResponderInput,
    ResponderOutput,
    Tenant,
    turn_from_row,
)
from waai.wiring import open_ai_wiring
from wacommon.broker.schemas import Contact, utcnow
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories.events import NullEventLog
from wacommon.tenants.config import parse_tenant
from wacommon.web.api_types import NUL_FREE, TenantPath

SIM_PREFIX = "SIM:"

Message = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=NUL_FREE),
]


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    messages: list[Message] = Field(min_length=1, max_length=20, description="one burst")
    session: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="omit to start a new one"
    )


class UsageOut(BaseModel):
    model: str
    tokens_in: int
    tokens_out: int
    tool_calls: list[dict[str, Any]]


class SimulateOut(BaseModel):
    session: str
    conversation_id: str
    replies: list[str] = Field(description="the bubbles the customer would receive, in order")
    handover_reason: str | None
    opt_out: bool
    usage: UsageOut


class Simulator:
    """The simulate route, bound to the pool, the secret box and the AI wiring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        ai_settings: AISettings,
        responder_for: Callable[[Tenant], Responder] | None,
    ) -> None:
        self.pool, self.box, self.ai_settings = pool, box, ai_settings
        self.responder_for = responder_for
        self.events = NullEventLog()

    async def respond(self, tenant: Tenant, inp: ResponderInput) -> ResponderOutput:
        """The tenant's responder on one input (a test's own, else the worker's wiring)."""
        if self.responder_for is not None:
            return await self.responder_for(tenant).respond(inp)
        # the worker's wiring (guarded tool client included), opened for one call: the
        # simulator is rare, and nothing outlives the request
        async with open_ai_wiring(
            self.ai_settings, pool=self.pool, events=self.events, decrypt=self.box.decrypt
        ) as wiring:
            return await wiring.responder_for(tenant).respond(inp)

    async def simulate(self, tenant_id: TenantPath, body: SimulateIn) -> SimulateOut:
        """Answer `messages` as one burst with the tenant's real responder; nothing is sent."""
        pool = self.pool
        cid = parse_id(tenant_id, "client")
        client = await clients_repo.get_client(pool, cid)
        if client is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        session = body.session or uuid.uuid4().hex[:12]
        burst_id = f"sim-{uuid.uuid4().hex}"
        now = utcnow()
        contact = Contact(key=SIM_PREFIX + session)
        conv, burst_ids = await store_burst(pool, cid, contact, burst_id, body.messages, now)
        conv_id = str(conv["id"])
        tenant, inp = await self._input(cid, client, conv, contact, burst_ids, burst_id, now)
        output = await self.respond(tenant, inp)
        # the responder's messages are already WhatsApp bubbles (see ResponderOutput)
        replies = [text for text in output.messages if text.strip()]
        await store_replies(pool, cid, conv_id, burst_id, replies)
        usage = output.usage
        return SimulateOut(
            session=session,
            conversation_id=conv_id,
            replies=replies,
            handover_reason=output.handover_reason,
            opt_out=output.opt_out,
            usage=UsageOut(
                model=usage.model,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                tool_calls=usage.tool_calls,
            ),
        )

    async def _input(
        self,
        cid: str,
        client: dict[str, Any],
        conv: dict[str, Any],
        contact: Contact,
        burst_ids: list[int],
        burst_id: str,
        now: datetime,
    ) -> tuple[Tenant, ResponderInput]:
        """The tenant and what its responder reads: the history window and the burst."""
        pool, conv_id = self.pool, str(conv["id"])
        config = parse_tenant(client, self.box.open)
        tools_config = config.tools_config
        # the same window as the rag-worker's, so a simulation sees what the bot would
        max_messages, since = context_window.history_window(
            context_window.window(config.llm), conv, now
        )
        history = await msg_repo.conversation_history(
            pool, cid, conv_id, since=since, limit=max_messages, before_id=burst_ids[0]
        )
        burst = await msg_repo.messages_by_ids(pool, cid, burst_ids)
        tenant = Tenant(
            id=cid,
            name=client["name"],
            system_prompt=client["system_prompt"],
            timezone=client["timezone"],
            tools_config=tools_config,
        )
        return tenant, ResponderInput(
            tenant=tenant,
            conversation_id=conv_id,
            contact_key=contact.key,
            contact_name=None,
            history=[turn_from_row(r) for r in history],
            burst=[turn_from_row(r) for r in burst],
            now=now,
            correlation_id=burst_id,
            # a try before going live: bookings, CRM writes and the like are shown, not made
            sandbox=True,
        )


def simulator_router(
    settings: Settings,
    pool: asyncpg.Pool,
    box: SecretBox,
    *,
    ai: AISettings | None = None,
    responder_for: Callable[[Tenant], Responder] | None = None,
) -> APIRouter:
    """`POST /admin/clients/{id}/simulate`: the tenant's responder on a sandbox conversation."""
    router = APIRouter(
        prefix="/admin",
        tags=["simulator"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    simulator = Simulator(pool, box, ai or AISettings(), responder_for)
    router.add_api_route(
        "/clients/{client_id}/simulate",
        simulator.simulate,
        methods=["POST"],
        response_model=SimulateOut,
    )
    return router
