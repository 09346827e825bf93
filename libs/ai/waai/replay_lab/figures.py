"""The quality figures shown beside each reply, old and new: passages, grounding, tools, cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from waai.grounding import judge_grounded
from waai.replay_lab.turns import CustomerTurn
from waai.responders.responder import ResponderOutput
from wacommon.metrics.prices import ModelPrice, reply_cost_usd

_CENTS = Decimal("0.000001")


@dataclass(frozen=True)
class ReplyFigures:
    """One reply's figures; None where nothing was recorded (an old reply's passages)."""

    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_brl: Decimal | None = None
    passages: int | None = None
    grounded: bool | None = None
    tools: list[str] = field(default_factory=list)
    # the tools only shown to the model (side effects, messages to the customer later)
    dry_run_tools: list[str] = field(default_factory=list)
    handover_reason: str | None = None


@dataclass(frozen=True)
class Pricing:
    """The metrics price table (USD) and the R$ rate the dashboard uses."""

    prices: Mapping[str, ModelPrice]
    usd_brl: Decimal

    def brl(self, model: str, tokens_in: int, tokens_out: int) -> Decimal:
        usd = reply_cost_usd(dict(self.prices), model, tokens_in, tokens_out)
        return (usd * self.usd_brl).quantize(_CENTS)


def reply_text(bubbles: Sequence[str]) -> str:
    """A reply's bubbles as one text (how grounding reads it)."""
    return "\n".join(b for b in bubbles if b.strip())


def new_figures(output: ResponderOutput, pricing: Pricing) -> ReplyFigures:
    """The figures of a reply the candidate just wrote (its usage says everything)."""
    usage = output.usage
    passages = list(usage.passages)
    return ReplyFigures(
        model=usage.model,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost_brl=pricing.brl(usage.model, usage.tokens_in, usage.tokens_out),
        passages=len(passages),
        grounded=_grounded(reply_text(output.messages), passages),
        tools=[str(call.get("name")) for call in usage.tool_calls],
        dry_run_tools=[str(c.get("name")) for c in usage.tool_calls if c.get("dry_run")],
        handover_reason=output.handover_reason,
    )


def old_figures(
    turn: CustomerTurn, pricing: Pricing, passages: Sequence[Mapping[str, Any]] | None
) -> ReplyFigures:
    """The figures of the reply that was sent, from its `ai_responded` and `tool_used` events.

    Production keeps no passages per reply: `passages` are the ones the current knowledge
    base gives the same turn (None when the candidate dropped the knowledge base), so the
    old reply's grounding is judged against what the bot reads today.
    """
    text = reply_text([str(row["content"] or "") for row in turn.reply])
    grounding = _grounded(text, list(passages)) if passages is not None and text else None
    usage = turn.usage
    if usage is None:
        return ReplyFigures(grounded=grounding)
    return ReplyFigures(
        model=usage.model,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost_brl=pricing.brl(usage.model, usage.tokens_in, usage.tokens_out),
        grounded=grounding,
        tools=list(usage.tools),
        handover_reason=usage.handover_reason,
    )


def _grounded(text: str, passages: list[Any]) -> bool | None:
    """None: nothing to judge (no passages, a bare greeting), as `judge_grounded` says."""
    if not text.strip():
        return None
    return judge_grounded(text, passages)
