"""Answer a tenant's real customer turns again with a candidate configuration, sending nothing.

The replies come from the production responder (`build_responder`, as the rag-worker
builds it) with the candidate's prompt, model and knowledge base. Nothing is written and
nothing is published: the lab holds no publisher, stores no message, logs no event (a
`NullEventLog`: the dashboard never counts a replay), skips the monthly budget (whose alert
messages are real outbox rows), and every tool that would change something outside the
reply, or message the customer later, is shown to the model instead of run
(`ResponderInput.replay`, see `Tool.shown_only`).

Bounded: at most `MAX_CONVERSATIONS` conversations and `MAX_TURNS_PER_CONVERSATION` turns
each, `concurrency` turns at a time, each within `turn_timeout_s`, the whole run within
`run_timeout_s` (turns not started by then are reported as not run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from waai.knowledge.retrieval import KnowledgeRetriever, PgRetriever
from waai.llm.config import AISettings
from waai.llm.errors import LLMRejected, LLMUnavailable
from waai.llm.factory import build_responder
from waai.replay_lab.candidate import (
    Candidate,
    EmptyKnowledge,
    candidate_tenant,
    checked_llm,
)
from waai.replay_lab.figures import Pricing, ReplyFigures, new_figures, old_figures
from waai.replay_lab.turns import CustomerTurn, load_turns
from waai.responders.offline import OfflineResponder
from waai.responders.responder import Responder, ResponderInput, Tenant, turn_from_row
from waai.wiring import open_ai_wiring
from wacommon.broker.schemas import utcnow
from wacommon.infra.crypto import SecretBox
from wacommon.metrics.prices import ModelPrice
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import reply_files
from wacommon.repositories.events import NullEventLog
from wacommon.tenants.config import parse_tenant

log = structlog.get_logger(__name__)

MAX_CONVERSATIONS = 500
MAX_TURNS_PER_CONVERSATION = 20
MAX_CONCURRENCY = 8
MAX_TURN_TIMEOUT_S = 300.0


class TenantNotFound(LookupError):
    """No such tenant."""


@dataclass(frozen=True)
class LabLimits:
    """How much one run may do."""

    conversations: int = 20
    turns_per_conversation: int = 5
    concurrency: int = 4
    turn_timeout_s: float = 90.0
    run_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        if not 1 <= self.conversations <= MAX_CONVERSATIONS:
            raise ValueError(f"conversations must be between 1 and {MAX_CONVERSATIONS}")
        if not 1 <= self.turns_per_conversation <= MAX_TURNS_PER_CONVERSATION:
            raise ValueError(
                f"turns per conversation must be between 1 and {MAX_TURNS_PER_CONVERSATION}"
            )
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        if not 0 < self.turn_timeout_s <= MAX_TURN_TIMEOUT_S:
            raise ValueError(f"the turn timeout must be between 0 and {MAX_TURN_TIMEOUT_S} s")
        if self.run_timeout_s <= 0:
            raise ValueError("the run timeout must be positive")


@dataclass
class ReplySide:
    """A reply (its bubbles) and its figures."""

    bubbles: list[str]
    figures: ReplyFigures
    # who wrote the old reply: bot, human, or None (the turn got no answer)
    by: str | None = None


@dataclass
class TurnReplay:
    """One customer turn: what they wrote, what they got, what the candidate writes."""

    conversation_id: str
    contact: str
    at: datetime
    customer: list[str]
    old: ReplySide
    new: ReplySide | None = None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new.bubbles != self.old.bubbles


@dataclass
class LabReport:
    """A whole run: the candidate, the limits and every turn, oldest first per conversation."""

    tenant_id: str
    candidate: Candidate
    limits: LabLimits
    model: str
    started_at: datetime
    # the tenant's zone: the text report's times are the business's
    timezone: str = "America/Sao_Paulo"
    finished_at: datetime | None = None
    turns: list[TurnReplay] = field(default_factory=list)


@dataclass(frozen=True)
class LabDeps:
    """What a run reads with: the deployment's AI settings, its secrets, the price table."""

    ai: AISettings
    open_secrets: Callable[[Any], Any]
    decrypt: Callable[[str], str]
    pricing: Pricing

    @classmethod
    def of(cls, ai: AISettings, box: SecretBox, prices: Mapping[str, ModelPrice]) -> LabDeps:
        """Costs in R$ at the deployment's rate (METRICS_USD_BRL), as the dashboard's."""
        return cls(ai, box.open, box.decrypt, Pricing(prices, Decimal(str(ai.metrics_usd_brl))))


def masked_contact(key: str) -> str:
    """A contact as the report shows it: enough to find the conversation, not the number."""
    return "…" + key[-4:] if len(key) > 4 else key


async def run_lab(
    pool: asyncpg.Pool,
    tenant_id: str,
    candidate: Candidate,
    limits: LabLimits,
    deps: LabDeps,
) -> LabReport:
    """Re-answer the tenant's latest turns with `candidate`; `CandidateInvalid` before any call."""
    row = await clients_repo.get_client(pool, tenant_id)
    if row is None:
        raise TenantNotFound(tenant_id)
    ai, decrypt = deps.ai, deps.decrypt
    tenant = candidate_tenant(parse_tenant(row, deps.open_secrets), candidate)
    llm = checked_llm(tenant, ai, decrypt)
    started = utcnow()
    turns = await load_turns(
        pool,
        tenant_id,
        conversations=limits.conversations,
        turns_per_conversation=limits.turns_per_conversation,
    )
    report = LabReport(tenant_id, candidate, limits, llm.model, started, tenant.timezone)
    retriever: KnowledgeRetriever = (
        PgRetriever(pool) if candidate.knowledge == "current" else EmptyKnowledge()
    )
    events = NullEventLog()
    async with open_ai_wiring(ai, pool=pool, events=events, decrypt=decrypt) as wiring:
        offline = OfflineResponder(retriever, files=lambda c: reply_files.list_files(pool, c))
        # no `spend`: the budget's alerts are messages to the owner, and a replay sends none
        responder = build_responder(
            tenant,
            settings=ai,
            retriever=retriever,
            pool=pool,
            http=wiring.tool_http,
            events=events,
            decrypt=decrypt,
            clients=wiring.clients,
            offline=offline,
        )
        report.turns = await replay_turns(responder, tenant, turns, limits, deps.pricing, candidate)
    report.finished_at = utcnow()
    log.info(
        "replay_lab_finished",
        tenant_id=tenant_id,
        turns=len(report.turns),
        changed=sum(t.changed for t in report.turns),
        failed=sum(t.error is not None for t in report.turns),
    )
    return report


async def replay_turns(
    responder: Responder,
    tenant: Tenant,
    turns: list[CustomerTurn],
    limits: LabLimits,
    pricing: Pricing,
    candidate: Candidate,
) -> list[TurnReplay]:
    """Every turn answered again, `limits.concurrency` at a time, in the turns' order."""
    slots = asyncio.Semaphore(limits.concurrency)
    deadline = time.monotonic() + limits.run_timeout_s

    async def one(turn: CustomerTurn) -> TurnReplay:
        async with slots:
            left = deadline - time.monotonic()
            if left <= 0:
                return _replay_of(turn, pricing, None, error="not run: time limit")
            try:
                async with asyncio.timeout(min(limits.turn_timeout_s, left)):
                    output = await responder.respond(_input(tenant, turn))
            except TimeoutError:
                return _replay_of(turn, pricing, None, error="timeout")
            except (LLMUnavailable, LLMRejected) as exc:
                return _replay_of(turn, pricing, None, error=f"model: {exc}")
            except Exception as exc:
                log.warning("replay_turn_failed", error=repr(exc)[:300])
                return _replay_of(turn, pricing, None, error=f"failed: {type(exc).__name__}")
        new = ReplySide(
            [b for b in output.messages if b.strip()], new_figures(output, pricing), by="bot"
        )
        passages = output.usage.passages if candidate.knowledge == "current" else None
        return _replay_of(turn, pricing, new, passages=passages)

    return list(await asyncio.gather(*(one(turn) for turn in turns)))


def _input(tenant: Tenant, turn: CustomerTurn) -> ResponderInput:
    return ResponderInput(
        tenant=tenant,
        conversation_id=turn.conversation_id,
        contact_key=turn.contact_key,
        contact_name=turn.contact_name,
        history=[turn_from_row(r) for r in turn.history],
        burst=[turn_from_row(r) for r in turn.burst],
        # the moment the customer wrote: the prompt's date and the history window as then
        now=turn.at,
        correlation_id=f"replay-lab-{turn.burst[-1]['id']}",
        lead_context=turn.lead_context,
        replay=True,
    )


def _replay_of(
    turn: CustomerTurn,
    pricing: Pricing,
    new: ReplySide | None,
    *,
    error: str | None = None,
    passages: list[dict[str, Any]] | None = None,
) -> TurnReplay:
    old = ReplySide(
        [str(row["content"] or "") for row in turn.reply],
        old_figures(turn, pricing, passages),
        by=turn.replied_by,
    )
    return TurnReplay(
        conversation_id=turn.conversation_id,
        contact=masked_contact(turn.contact_key),
        at=turn.at,
        customer=[turn_from_row(r).text for r in turn.burst],
        old=old,
        new=new,
        error=error,
    )
