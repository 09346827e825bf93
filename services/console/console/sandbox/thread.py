"""The sandbox conversation as the page shows it: bubbles, and each reply's trace.

A bot bubble appears once the sender has delivered it through the sandbox client (status
sent or later): the page shows what a customer would have received, when they would have.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from wacommon.metrics.prices import ModelPrice, reply_cost_usd
from wacommon.repositories import reply_traces

SHOWN_LIMIT = 200
DELIVERED = ("sent", "delivered", "read")

_CONVERSATION = """
SELECT id, state, state_reason FROM active_conversations
 WHERE client_id = $1 AND contact_key = $2
"""
# the latest messages of the conversation, oldest first; outbound ones once delivered
_MESSAGES = """
SELECT * FROM (
  SELECT id, direction, role, kind, content, status, burst_id, created_at
    FROM chat_messages
   WHERE client_id = $1 AND conversation_id = $2
     AND (direction = 'in' OR status = ANY($3::text[]) OR status IN ('failed', 'dropped'))
     -- an owner's handover alert is not a reply to the test customer
     AND NOT (payload ? 'alert_to')
   ORDER BY id DESC
   LIMIT $4
) latest ORDER BY id
"""


@dataclass
class Trace:
    """What one reply was made of, ready to show."""

    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    cost_usd: Decimal
    passages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    handover_reason: str | None


@dataclass
class Bubble:
    id: int
    outbound: bool
    role: str
    text: str
    status: str
    at: Any
    burst_id: str | None = None


@dataclass
class Turn:
    """Consecutive bubbles of one side (a customer's burst, or one reply and its trace)."""

    outbound: bool
    bubbles: list[Bubble] = field(default_factory=list)
    trace: Trace | None = None


@dataclass
class SandboxThread:
    conversation_id: str | None
    state: str
    state_reason: str | None
    turns: list[Turn]

    @property
    def version(self) -> str:
        """Changes whenever anything shown changes: the page polls with it."""
        parts = [self.state, self.state_reason or ""]
        for turn in self.turns:
            parts += [f"{b.id}:{b.status}" for b in turn.bubbles]
            parts.append("t" if turn.trace else "-")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def trace_view(raw: dict[str, Any], prices: dict[str, ModelPrice]) -> Trace:
    """A stored trace as the page shows it, priced with the metrics table."""
    model = str(raw.get("model") or "")
    tokens_in, tokens_out = int(raw.get("tokens_in") or 0), int(raw.get("tokens_out") or 0)
    return Trace(
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=int(raw.get("latency_ms") or 0),
        cost_usd=reply_cost_usd(prices, model, tokens_in, tokens_out),
        passages=[_passage(p) for p in raw.get("passages") or [] if isinstance(p, dict)],
        tools=[_tool(t) for t in raw.get("tools") or [] if isinstance(t, dict)],
        handover_reason=raw.get("handover_reason"),
    )


def _passage(raw: dict[str, Any]) -> dict[str, Any]:
    """Every field the template prints, whatever an older trace row kept."""
    try:
        score = float(raw.get("score") or 0.0)
    except (TypeError, ValueError):
        score = 0.0
    return {
        "document": str(raw.get("document") or ""),
        "score": score,
        "text": str(raw.get("text") or ""),
    }


def _tool(raw: dict[str, Any]) -> dict[str, Any]:
    arguments = raw.get("arguments")
    return {
        "name": str(raw.get("name") or ""),
        "ok": bool(raw.get("ok")),
        "error": str(raw.get("error") or ""),
        "dry_run": bool(raw.get("dry_run")),
        "arguments": arguments if isinstance(arguments, dict) else {},
    }


async def load_thread(
    pool: asyncpg.Pool, tenant_id: str, contact_key: str, prices: dict[str, ModelPrice]
) -> SandboxThread:
    """The test customer's conversation in this tenant (empty before the first message)."""
    async with pool.acquire() as conn:
        conv = await conn.fetchrow(_CONVERSATION, tenant_id, contact_key)
        if conv is None:
            return SandboxThread(None, "bot", None, [])
        cid = str(conv["id"])
        rows = await conn.fetch(_MESSAGES, tenant_id, cid, list(DELIVERED), SHOWN_LIMIT)
        traces = await reply_traces.for_conversation(conn, tenant_id, cid)
    turns: list[Turn] = []
    for row in rows:
        outbound = row["direction"] == "out"
        bubble = Bubble(
            id=int(row["id"]),
            outbound=outbound,
            role=str(row["role"] or ""),
            text=str(row["content"] or ""),
            status=str(row["status"] or ""),
            at=row["created_at"],
            burst_id=row["burst_id"],
        )
        last = turns[-1] if turns else None
        # a reply's bubbles share its burst id; the customer's consecutive messages are one turn
        same = (
            last is not None
            and last.outbound == outbound
            and (not outbound or (bubble.burst_id or "") == (last.bubbles[-1].burst_id or "-"))
        )
        if not same:
            last = Turn(outbound)
            turns.append(last)
        assert last is not None
        last.bubbles.append(bubble)
        if outbound and bubble.id in traces:
            last.trace = trace_view(traces[bubble.id], prices)
    return SandboxThread(cid, str(conv["state"]), conv["state_reason"], turns)
