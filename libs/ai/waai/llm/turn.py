"""What both responders share: context before the model call, output after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from waai.formatting import shape_reply
from waai.grounding import judge_grounded
from waai.llm.config import AISettings, LLMConfig
from waai.llm.ports import PassageLike, Retriever
from waai.llm.prompt import ChatTurn, chat_turns, system_prompt, window
from waai.llm.query_rewrite import QueryRewriter, search_query
from waai.responders.responder import ResponderInput, ResponderOutput, Usage, passage_summary
from waai.tools.registry import Toolbox, ToolContext, ToolResult
from wacommon.repositories.events import EventLog

log = structlog.get_logger(__name__)

HANDOVER_MESSAGE = "Vou transferir você para um atendente humano. Ele já vai te responder. 🙂"
OPT_OUT_MESSAGE = "Tudo bem! Você não vai mais receber mensagens automáticas nossas."


@dataclass(frozen=True)
class ResponderDeps:
    """Shared adapters every responder of the worker uses."""

    settings: AISettings
    retriever: Retriever
    pool: asyncpg.Pool
    http: httpx.AsyncClient
    events: EventLog
    decrypt: Callable[[str], str]
    # the tenant's model rewriting the last messages into a search query (llm_config.query_rewrite)
    rewriter: QueryRewriter | None = None


@dataclass
class Prepared:
    """One turn, ready for a model: system prompt, window, and the tools' context."""

    system: str
    turns: list[ChatTurn]
    ctx: ToolContext
    passages: list[PassageLike]


async def prepare(
    inp: ResponderInput, config: LLMConfig, toolbox: Toolbox, deps: ResponderDeps
) -> Prepared:
    """Retrieve passages for the burst and build what the model sees."""
    query = "\n".join(t.text for t in inp.burst if t.text.strip())
    if not query:
        query = next((t.text for t in reversed(inp.history) if t.role == "customer"), "")
    query = await search_query(deps.rewriter, [*inp.history, *inp.burst], query)
    passages: list[PassageLike] = []
    if query:
        try:
            passages = list(
                await deps.retriever.search(inp.tenant.id, query, deps.settings.retrieval_k)
            )
        except Exception as exc:
            # an answer without the knowledge base beats no answer; the prompt says so
            log.warning("retrieval_failed", error=repr(exc))
    recent = window(inp.history, inp.now, config.history_messages, config.history_hours)
    ctx = ToolContext(
        pool=deps.pool,
        tenant_id=inp.tenant.id,
        conversation_id=inp.conversation_id,
        contact_key=inp.contact_key,
        contact_name=inp.contact_name,
        timezone=inp.tenant.timezone,
        now=inp.now,
        http=deps.http,
        events=deps.events,
        settings=deps.settings,
        decrypt=deps.decrypt,
        correlation_id=inp.correlation_id or None,
        dry_run=inp.sandbox or inp.replay,
        replay=inp.replay,
    )
    system = system_prompt(
        inp.tenant,
        now=inp.now,
        passages=passages,
        tools=toolbox.specs,
        tool_instructions=toolbox.instructions,
        contact_name=inp.contact_name,
        lead_context=inp.lead_context,
    )
    return Prepared(system, chat_turns(recent, inp.burst), ctx, passages)


def record_call(usage: Usage, result: ToolResult) -> None:
    """Add one tool call to the usage of the reply."""
    call: dict[str, Any] = {"name": result.name, "ok": result.ok}
    if result.error:
        call["error"] = result.error
    if result.dry_run:
        call["dry_run"] = True
    usage.tool_calls.append(call)
    # the arguments only in the reply's trace (kept for sandbox replies), not in the summary
    usage.tool_trace.append({**call, "arguments": result.arguments})


def finish(text: str, prepared: Prepared, usage: Usage, settings: AISettings) -> ResponderOutput:
    """WhatsApp bubbles plus what the tools asked for; never an empty, silent reply."""
    outcome = prepared.ctx.outcome
    usage.passages = [passage_summary(p) for p in prepared.passages]
    usage.grounded = judge_grounded(text, prepared.passages)
    messages = shape_reply(text, settings.bubble_max_chars) if text.strip() else []
    handover = outcome.handover_reason
    if not messages:
        if outcome.opt_out:
            messages = [OPT_OUT_MESSAGE]
        else:
            handover = handover or "no_answer"
            messages = [HANDOVER_MESSAGE]
    return ResponderOutput(
        messages=messages,
        handover_reason=handover,
        opt_out=outcome.opt_out,
        usage=usage,
        # choices make no sense under a handover or opt-out notice
        options=[] if handover or outcome.opt_out else outcome.options,
        options_button=outcome.options_button,
        reaction=outcome.reaction,
        files=outcome.files,
    )
