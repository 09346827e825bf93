"""One burst's reply written to the outbox, then handed to the sender and shown to the console.

The common reply (text only, no handover, no opt-out, no file, not the sandbox) is one
statement and no transaction; anything else commits with it in one transaction. Nothing is
published before the commit: the sender and the console hear of rows that exist.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import structlog
from prometheus_client import Counter

from rag_worker import quality
from rag_worker.deps import RagDeps
from rag_worker.rich_reply import Bubble, reply_rows
from rag_worker.voice_reply import FILENAME as VOICE_FILENAME
from rag_worker.voice_reply import MIME as VOICE_MIME
from rag_worker.voice_reply import VoiceNote
from waai.responders.responder import ResponderOutput
from wacommon.broker.schemas import BurstReady, Provider, SendReply, utcnow
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import followups, handover_alerts, human_reply
from wacommon.conversation import state as conversation_state
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import event_types as ev
from wacommon.repositories import reply_files, reply_traces

log = structlog.get_logger(__name__)

REPLIES = Counter("wa_replies_total", "Bursts handled by the rag-worker", ["outcome"])


@dataclass(frozen=True)
class Reply:
    """What a model's answer becomes before anything is written."""

    rows: list[Bubble]
    origin: str
    # the `ai_responded` event's figures, and the turn's quality (None: no model ran)
    responded: dict[str, Any]
    turn: dict[str, Any] | None
    latency_ms: int
    # a sandbox reply keeps its trace, written with it
    traced: bool
    # each row's idempotency key (`reply:<burst>:<index>`), and the rows that carry bytes
    keys: list[str]
    files: list[tuple[str, str]]
    made: list[tuple[bytes, str]]

    @property
    def bubbles(self) -> list[str]:
        return [row.content for row in self.rows]

    def whole(self, output: ResponderOutput) -> bool:
        """One statement is enough: nothing but the bubbles and their follow-up."""
        return not (
            self.traced or output.handover_reason or output.opt_out or self.files or self.made
        )


@dataclass
class Queued:
    """What the commit wrote, for what is published after it."""

    # the conversation row the queueing statement locked
    conv: dict[str, Any]
    new_ids: list[int]
    handed_over: bool = False
    opted_out: bool = False
    alert_ids: list[int] = field(default_factory=list)

    @property
    def first_id(self) -> int | None:
        return self.new_ids[0] if self.new_ids else None


def prepare(
    deps: RagDeps,
    msg: BurstReady,
    output: ResponderOutput,
    first_at: datetime,
    *,
    provider: str | None,
    react_to: str | None,
    voice: VoiceNote | None,
    repeated: bool | None,
) -> Reply:
    # already bubbles: shaping them again would repeat each copyable value (a Pix key twice)
    rows = reply_rows(output, provider=provider, react_to=react_to, voice=voice)
    usage = output.usage
    latency_ms = int((utcnow() - first_at).total_seconds() * 1000)
    bubbles = [row.content for row in rows]
    keys = [f"reply:{msg.burst_id}:{i}" for i in range(len(rows))]
    turn = (
        quality.turn_quality(
            output, bubbles, repeated=repeated, prices=deps.prices, usd_brl=deps.usd_brl
        ).as_event()
        if repeated is not None
        else None
    )
    return Reply(
        rows=rows,
        origin="system" if output.handover_reason or output.opt_out else "bot",
        responded={
            "model": usage.model,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "latency_ms": latency_ms,
            "bubbles": len(bubbles),
            "messages": len(msg.message_ids),
        },
        turn=turn,
        latency_ms=latency_ms,
        traced=provider == Provider.SANDBOX.value,
        keys=keys,
        files=[(row.file_id, key) for row, key in zip(rows, keys, strict=True) if row.file_id],
        made=[(row.data, key) for row, key in zip(rows, keys, strict=True) if row.data],
    )


async def commit_reply(
    deps: RagDeps,
    msg: BurstReady,
    client: dict[str, Any],
    output: ResponderOutput,
    reply: Reply,
    last_id: int,
    *,
    plan: followups.FollowupPlan,
    overdue: bool = False,
) -> None:
    """Queue the reply (or drop it, logged, when the conversation no longer wants it), then
    hand its first row to the sender and tell the console."""
    whole = reply.whole(output)
    async with deps.pool.acquire() as conn, _transaction(conn, not whole):
        queued = await _queue(conn, msg, reply, last_id, whole=whole, plan=plan, overdue=overdue)
        if queued is None:
            return
        if not whole:
            await _with_the_reply(conn, msg, client, output, reply, queued)
    REPLIES.labels("answered" if queued.first_id else "empty").inc()
    await _announce(deps, msg, output, reply, queued)


async def _queue(
    conn: Any,
    msg: BurstReady,
    reply: Reply,
    last_id: int,
    *,
    whole: bool,
    plan: followups.FollowupPlan,
    overdue: bool,
) -> Queued | None:
    """One statement: lock the conversation, check it still wants this reply (the bot's, no
    newer customer message unless overdue), queue the bubbles, log the outcome (`ai_responded`
    or `reply_dropped`) and, for the common reply, schedule the next follow-up."""
    rich = any(row.kind != "text" for row in reply.rows)
    conv, why, new_ids = await conv_repo.lock_and_queue_reply(
        conn,
        msg.tenant_id or "",
        msg.conversation_id,
        after_id=last_id,
        overdue=overdue,
        bubbles=list(zip(reply.bubbles, reply.keys, strict=True)),
        burst_id=msg.burst_id,
        payload={"origin": reply.origin},
        event=(ev.AI_RESPONDED, reply.responded),
        drop_event_type=ev.REPLY_DROPPED,
        correlation_id=msg.correlation_id,
        followup_delays_s=(
            ([st.delay.total_seconds() for st in plan.stages] if plan.active else [])
            if whole
            else None
        ),
        followup_from=utcnow(),
        shapes=[(row.kind, row.extra) for row in reply.rows] if rich else None,
        quality=reply.turn,
    )
    if conv is None:
        return None
    if why is not None:
        # "stale": the newer messages are answered with these by the next burst; once the
        # customer has waited the maximum wait the reply goes out and the newer ones next
        REPLIES.labels(f"dropped_{why}").inc()
        log.info("reply_dropped", why=why)
        return None
    return Queued(conv=dict(conv), new_ids=list(new_ids))


async def _with_the_reply(
    conn: Any,
    msg: BurstReady,
    client: dict[str, Any],
    output: ResponderOutput,
    reply: Reply,
    queued: Queued,
) -> None:
    """What commits in the reply's transaction: its trace, its files, the handover, the
    opt-out or the follow-up."""
    tenant_id, cid = msg.tenant_id or "", msg.conversation_id
    if reply.traced and queued.first_id is not None:
        await reply_traces.record(
            conn,
            tenant_id,
            cid,
            queued.first_id,
            msg.burst_id,
            reply_traces.trace_of(
                output.usage,
                latency_ms=reply.latency_ms,
                message_ids=msg.message_ids,
                handover_reason=output.handover_reason,
            ),
        )
    if reply.files:
        await reply_files.queue_for_messages(conn, tenant_id, reply.files)
    for data, key in reply.made:
        await reply_files.queue_bytes(conn, tenant_id, key, VOICE_MIME, VOICE_FILENAME, data)
    if output.handover_reason:
        until = human_reply.human_pause_until(
            client["tools_config"], client.get("human_attendant_timeout"), utcnow()
        )
        # the row was the bot's (locked by the queueing statement): True means it moved now
        queued.handed_over = await conversation_state.handover(
            conn,
            tenant_id,
            cid,
            cause=f"ai:{output.handover_reason}",
            until=until,
            correlation_id=msg.correlation_id,
        )
        # an owner testing a handover on "Testar o bot" alerts nobody (no bell, no message)
        if queued.handed_over and not reply.traced:
            queued.alert_ids = await handover_alerts.queue_alerts(
                conn, tenant_id, cid, cause=output.handover_reason, reply_key=msg.burst_id
            )
    elif output.opt_out:
        queued.opted_out = await conversation_state.opt_out(
            conn, tenant_id, cid, cause="ai_tool", correlation_id=msg.correlation_id
        )
    elif reply.bubbles:
        await followups.schedule_followup(
            conn,
            tenant_id,
            cid,
            client.get("followup_config") or {},
            utcnow(),
            locked=queued.conv,
        )


async def _announce(
    deps: RagDeps, msg: BurstReady, output: ResponderOutput, reply: Reply, queued: Queued
) -> None:
    """After the commit: the first row to the sender, the new rows and states to the console."""
    tenant_id, cid = msg.tenant_id or "", msg.conversation_id
    if queued.first_id is not None:
        await publish_send(deps, msg, queued.first_id, reply.origin)
    for new_id in queued.new_ids:
        await deps.notifier.notify(tenant_id, cid, "message.created", message_id=new_id)
    if queued.handed_over and not reply.traced:
        await deps.notifier.notify(
            tenant_id, cid, "handover.requested", state="human", cause=output.handover_reason
        )
        for alert_id in queued.alert_ids:
            await publish_send(deps, msg, alert_id, "system")
    elif queued.opted_out:
        await deps.notifier.notify(
            tenant_id, cid, "conversation.updated", state="opted_out", cause="ai_tool"
        )


def _transaction(conn: Any, needed: bool) -> contextlib.AbstractAsyncContextManager[Any]:
    """The connection's transaction, or nothing when the work is a single statement."""
    return conn.transaction() if needed else contextlib.nullcontext()


async def publish_send(deps: RagDeps, msg: BurstReady, outbound_id: int, origin: str) -> None:
    """The sender's command for one queued row (at least once: the sender is idempotent)."""
    await deps.publisher.publish(
        SendReply(
            tenant_id=msg.tenant_id,
            correlation_id=msg.correlation_id,
            conversation_id=msg.conversation_id,
            outbound_id=outbound_id,
            origin=cast(Any, origin),
        ),
        exchange=PIPELINE,
    )
