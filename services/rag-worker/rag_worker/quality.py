"""The `turn_quality` figures of one answered burst (`waai.turn_quality`), before the commit.

What the commit alone knows (the reply dropped as stale, the conversation no longer the
bot's) is added by the statement that queues the reply (`conv_repo.lock_and_queue_reply`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from waai.grounding import judge_grounded
from waai.responders.responder import ResponderOutput
from waai.turn_quality import TurnQuality, handover_category, repeated_info
from wacommon.metrics.prices import ModelPrice, reply_cost_usd

# the model names of turns no model answered: nothing was spent, nothing to judge
BUDGET_MODEL = "budget"


def _customer_texts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        str(r["content"])
        for r in rows
        if r.get("direction") == "in" and r.get("role") == "customer" and r.get("content")
    ]


def customer_repeated(
    history_rows: Sequence[Mapping[str, Any]], burst_rows: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether a message of the burst gives again what the customer wrote before."""
    earlier = _customer_texts(history_rows)
    for text in _customer_texts(burst_rows):
        if repeated_info(earlier, text):
            return True
        earlier.append(text)
    return False


def turn_quality(
    output: ResponderOutput,
    bubbles: Sequence[str],
    *,
    repeated: bool,
    prices: Mapping[str, ModelPrice],
    usd_brl: float,
) -> TurnQuality:
    """The figures of a turn whose reply is about to be queued (`bubbles`: what would be sent)."""
    usage = output.usage
    reply = "\n".join(output.messages)
    grounded = usage.grounded
    if grounded is None:
        grounded = judge_grounded(reply, usage.passages)
    documents = list(dict.fromkeys(str(p.get("document") or "") for p in usage.passages))
    cost_usd = reply_cost_usd(dict(prices), usage.model, usage.tokens_in, usage.tokens_out)
    silent: str | None = None
    if not bubbles:
        silent = "budget" if usage.model == BUDGET_MODEL else "empty_reply"
    handover = None
    if output.handover_reason:
        handover = handover_category(f"ai:{output.handover_reason}")
    return TurnQuality(
        passages=len(usage.passages),
        documents=[d for d in documents if d],
        grounded=grounded,
        tools=[str(c.get("name") or "") for c in usage.tool_calls],
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost_brl=round(float(cost_usd) * usd_brl, 6),
        silent=silent,
        handover=handover,
        repeated_info=repeated,
    )
