"""`POST /admin/clients/{id}/replay-lab`: a tenant's latest real turns answered again by a
candidate configuration (waai.replay_lab), old and new replies with their figures.

Synchronous and smaller than the CLI's runs (an HTTP request must end): at most
`API_MAX_CONVERSATIONS` conversations, `API_MAX_TURNS` turns each, `API_RUN_TIMEOUT_S`
for the whole run. Nothing is sent and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin, tenant_or_404
from waai.llm.config import AISettings
from waai.replay_lab.candidate import MAX_PROMPT_CHARS, Candidate, CandidateInvalid, Knowledge
from waai.replay_lab.report import as_json
from waai.replay_lab.runner import LabDeps, LabLimits, TenantNotFound, run_lab
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.metrics.prices import default_prices
from wacommon.web.api_types import NUL_FREE, TenantPath
from wacommon.web.http_errors import invalid

API_MAX_CONVERSATIONS = 50
API_MAX_TURNS = 10
API_MAX_CONCURRENCY = 4
API_RUN_TIMEOUT_S = 240.0

Prompt = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS, pattern=NUL_FREE
    ),
]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,100}$")]


class ReplayLabIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: Prompt | None = Field(default=None, description="replaces the tenant's persona")
    provider: Name | None = None
    model: Name | None = None
    knowledge: Knowledge = "current"
    last: int = Field(default=10, ge=1, le=API_MAX_CONVERSATIONS, description="conversations")
    turns: int = Field(default=3, ge=1, le=API_MAX_TURNS, description="turns per conversation")
    concurrency: int = Field(default=2, ge=1, le=API_MAX_CONCURRENCY)
    turn_timeout_s: float = Field(default=60.0, gt=0, le=120)


def replay_lab_router(
    settings: Settings, pool: asyncpg.Pool, box: SecretBox, *, ai: AISettings | None = None
) -> APIRouter:
    """The replay lab behind the operator token."""
    router = APIRouter(
        prefix="/admin",
        tags=["replay-lab"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    # the gateway has no METRICS_PRICES of its own: the list prices, as the budgets use
    deps = LabDeps.of(ai or AISettings(), box, default_prices())

    @router.post("/clients/{client_id}/replay-lab")
    async def replay_lab(tenant_id: TenantPath, body: ReplayLabIn) -> dict[str, Any]:
        """Old and new replies side by side with their figures; nothing is sent."""
        cid = await tenant_or_404(pool, tenant_id)
        limits = LabLimits(
            conversations=body.last,
            turns_per_conversation=body.turns,
            concurrency=body.concurrency,
            turn_timeout_s=body.turn_timeout_s,
            run_timeout_s=API_RUN_TIMEOUT_S,
        )
        candidate = Candidate(
            prompt=body.prompt, provider=body.provider, model=body.model, knowledge=body.knowledge
        )
        try:
            report = await run_lab(pool, cid, candidate, limits, deps)
        except TenantNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found") from None
        except CandidateInvalid as exc:
            # the model the candidate names (provider, model) cannot answer in this deployment
            raise invalid(("body", "provider"), f"the candidate cannot run: {exc}") from None
        return as_json(report)

    return router
