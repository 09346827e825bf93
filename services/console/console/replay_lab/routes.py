"""`/laboratorio` ("Laboratório de respostas"): the owner tries a new prompt on the latest
real conversations and reads the old and new replies side by side (waai.replay_lab).

Owners and operators working in a tenant only, scoped to the session's tenant. Runs are
small (`PAGE_MAX_CONVERSATIONS` conversations, `PAGE_TURNS` turns each) and at most
`RUNS_AT_ONCE` per console process run at a time: another one is refused with 429 and the
form kept. Nothing is sent and nothing is written.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console.auth.deps import optional_user, require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.common import owner_page
from console.pages.render import render, translator_for
from waai.llm.config import AISettings
from waai.replay_lab.candidate import (
    KNOWLEDGE_CHOICES,
    MAX_PROMPT_CHARS,
    Candidate,
    CandidateInvalid,
)
from waai.replay_lab.report import totals
from waai.replay_lab.runner import LabDeps, LabLimits, run_lab
from wacommon.infra.crypto import box_from_settings
from wacommon.repositories import clients as clients_repo

log = structlog.get_logger(__name__)

PAGE_MAX_CONVERSATIONS = 10
PAGE_TURNS = 3
RUNS_AT_ONCE = 2
LAST_CHOICES = (3, 5, 10)


def _form(prompt: str, last: int, knowledge: str, error: str | None = None) -> dict[str, object]:
    return {
        "prompt": prompt,
        "last": last,
        "knowledge": knowledge,
        "error": error,
        "last_choices": LAST_CHOICES,
        "knowledge_choices": KNOWLEDGE_CHOICES,
        "max_prompt": MAX_PROMPT_CHARS,
        "report": None,
        "totals": None,
    }


class ReplayLabRoutes:
    """The lab's page and its runs, at most RUNS_AT_ONCE of them at a time."""

    def __init__(self) -> None:
        self.running = asyncio.Semaphore(RUNS_AT_ONCE)

    async def page(
        self,
        request: Request,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        found = await owner_page(request, deps, user)
        if isinstance(found, Response):
            return found
        who, tenant = found
        client = await clients_repo.get_client(deps.pool, str(tenant))
        prompt = str((client or {}).get("system_prompt") or "")
        context = {"nav": "sandbox", "tenant_id": str(tenant), **_form(prompt, 5, "current")}
        return render(request, "replay_lab.html", who.user, context, sound_on=who.sound_on)

    async def run(
        self,
        request: Request,
        prompt: str = Form(default=""),
        last: int = Form(default=5),
        knowledge: str = Form(default="current"),
        user: CurrentUser = Depends(require_owner),
        tenant: UUID = Depends(tenant_scope),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        """The turns answered again with `prompt`, old and new side by side (a fragment)."""
        t = translator_for(request, user)
        prompt = prompt.strip()
        error = None
        if not prompt or len(prompt) > MAX_PROMPT_CHARS or "\x00" in prompt:
            error = t("lab.prompt_invalid", max=MAX_PROMPT_CHARS)
        elif last not in LAST_CHOICES or knowledge not in KNOWLEDGE_CHOICES:
            error = t("lab.bad_field")
        if error is not None:
            return _results(request, user, _form(prompt, last, knowledge, error), 422)
        if self.running.locked():
            busy = _form(prompt, last, knowledge, t("lab.busy"))
            return _results(request, user, busy, 429)
        async with self.running:
            ai = AISettings()
            lab = LabDeps.of(ai, box_from_settings(deps.settings), deps.settings.metrics_prices)
            limits = LabLimits(
                conversations=min(last, PAGE_MAX_CONVERSATIONS),
                turns_per_conversation=PAGE_TURNS,
                concurrency=2,
                turn_timeout_s=60.0,
                run_timeout_s=150.0,
            )
            candidate = Candidate(
                prompt=prompt, knowledge="none" if knowledge == "none" else "current"
            )
            try:
                report = await run_lab(deps.pool, str(tenant), candidate, limits, lab)
            except CandidateInvalid as exc:
                log.info("replay_lab_refused", error=str(exc))
                refused = _form(prompt, last, knowledge, t("lab.model_unavailable"))
                return _results(request, user, refused, 422)
        context = {**_form(prompt, last, knowledge), "report": report, "totals": totals(report)}
        return _results(request, user, context, 200)


def replay_lab_router() -> APIRouter:
    """The lab's routes; one semaphore per router bounds the runs of this process."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    routes = ReplayLabRoutes()
    router.add_api_route("/laboratorio", routes.page, methods=["GET"])
    router.add_api_route("/laboratorio/rodar", routes.run, methods=["POST"])
    return router


def _results(
    request: Request, user: CurrentUser, context: dict[str, object], status_code: int
) -> Response:
    return render(request, "_replay_lab_results.html", user, context, status_code=status_code)
