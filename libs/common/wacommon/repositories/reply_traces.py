"""Reply traces of the web sandbox: what each reply was made of, keyed by its first bubble.

Written by the rag-worker in the reply's own transaction (`record`), read by the console's
"Testar o bot" page (`for_conversation`); every statement names the tenant.
"""

from __future__ import annotations

from typing import Any

from wacommon.infra.dbtypes import Conn


def trace_of(
    usage: Any,
    *,
    latency_ms: int,
    message_ids: list[int],
    handover_reason: str | None = None,
) -> dict[str, Any]:
    """The trace of one reply from the responder's usage (`waai` Usage: duck-typed here,
    wacommon does not depend on the AI library)."""
    return {
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "latency_ms": latency_ms,
        "passages": list(getattr(usage, "passages", []) or []),
        "tools": list(getattr(usage, "tool_trace", None) or usage.tool_calls or []),
        "message_ids": list(message_ids),
        "handover_reason": handover_reason,
    }


async def record(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    outbound_id: int,
    burst_id: str,
    trace: dict[str, Any],
) -> None:
    """Keep the trace of the reply whose first bubble is `outbound_id` (once)."""
    await conn.execute(
        "INSERT INTO reply_traces (outbound_id, client_id, conversation_id, burst_id, trace)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (outbound_id) DO NOTHING",
        outbound_id,
        tenant_id,
        conversation_id,
        burst_id,
        trace,
    )


async def for_conversation(
    conn: Conn, tenant_id: str, conversation_id: str
) -> dict[int, dict[str, Any]]:
    """The traces of a conversation's replies, by first bubble id."""
    rows = await conn.fetch(
        "SELECT outbound_id, burst_id, trace FROM reply_traces"
        " WHERE client_id = $1 AND conversation_id = $2",
        tenant_id,
        conversation_id,
    )
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        out[int(row["outbound_id"])] = {**row["trace"], "burst_id": row["burst_id"]}
    return out
