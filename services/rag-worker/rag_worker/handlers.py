"""rag-worker handlers: a burst in, the reply written to the outbox and handed to the sender."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter

from rag_worker import quality, voice_reply
from rag_worker.burst_media import burst_turn, polite_only, process_media_rows
from rag_worker.deps import RagDeps
from rag_worker.rich_reply import last_customer_message_id, reply_rows
from rag_worker.voice_reply import FILENAME as VOICE_FILENAME
from rag_worker.voice_reply import MIME as VOICE_MIME
from rag_worker.voice_reply import VoiceNote
from waai import context_window
from waai.responders.responder import (
    ResponderInput,
    ResponderOutput,
    Tenant,
    Usage,
    turn_from_row,
)
from wacommon.broker.consumer import Delivery
from wacommon.broker.dispatch import MessageHandler
from wacommon.broker.schemas import BurstReady, Envelope, Provider, SendReply, utcnow
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import bot_gate, followups, handover_alerts, human_reply
from wacommon.conversation import state as conversation_state
from wacommon.conversation.lead_context import ATTRIBUTE as LEAD_CONTEXT
from wacommon.infra.errors import PermanentError
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import event_types as ev
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import reply_files, reply_traces
from wacommon.tenants.config import parse_tenant

log = structlog.get_logger(__name__)

REPLIES = Counter("wa_replies_total", "Bursts handled by the rag-worker", ["outcome"])


async def handle_burst_ready(msg: Envelope, delivery: Delivery, *, deps: RagDeps) -> None:
    """Answer one burst once; a redelivery republishes the reply instead of writing a new one."""
    if not isinstance(msg, BurstReady) or not msg.tenant_id:
        raise PermanentError(f"unexpected message {msg.type}")
    tenant_id, cid = msg.tenant_id, msg.conversation_id
    first_key = f"reply:{msg.burst_id}:0"
    last_id = max(msg.message_ids)
    window = deps.history_windows.get(tenant_id)
    prefetched: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    if window is not None:
        # the window known: context, burst and history in one round trip
        context, burst_rows, history_rows = await inbound_repo.burst_context_with_history(
            deps.pool,
            tenant_id,
            cid,
            first_key,
            up_to_id=last_id,
            history_since=utcnow() - timedelta(hours=window[1]),
            history_limit=window[0],
        )
        prefetched = (burst_rows, history_rows)
    else:
        context = await conv_repo.burst_context(deps.pool, tenant_id, cid, first_key)
    if context is None:
        existing = await msg_repo.get_by_idempotency_key(deps.pool, tenant_id, first_key)
        if existing is not None:
            await _publish(deps, msg, int(existing["id"]), existing["payload"].get("origin", "bot"))
            REPLIES.labels("redelivered").inc()
            return
        REPLIES.labels("unknown_conversation").inc()
        return
    client, conv, existing, gate = context
    if existing is not None:
        await _publish(deps, msg, int(existing["id"]), existing["payload"].get("origin", "bot"))
        REPLIES.labels("redelivered").inc()
        return
    # the tenant's configuration, opened and parsed once per change (not once per burst)
    tenant = await deps.tenant_directory.get(tenant_id) or parse_tenant(
        {**client, "id": tenant_id}, deps.secrets.open
    )
    client["tools_config"] = tenant.tools_config
    current_window = context_window.window(tenant.llm)
    deps.history_windows[tenant_id] = current_window
    # a handover whose pause already ended is resumed here, not left to the next scan
    if gate["state"] == conversation_state.BOT and gate["bot_active"]:
        allowed, why = True, None
    else:
        # the resume writes: whatever was read with the context is read again after it
        prefetched = None
        async with deps.pool.acquire() as conn:
            allowed, why = await bot_gate.bot_may_reply(conn, tenant_id, cid, gate=gate)
    if not allowed:
        REPLIES.labels("bot_silent").inc()
        log.info("burst_not_answered", why=why)
        return
    reanswer = msg.burst_id.startswith(inbound_repo.REANSWER_PREFIX)
    if reanswer:
        # an operator's explicit re-answer: the named messages, answered already
        max_messages, history_since = context_window.history_window(current_window, conv, utcnow())
        burst_rows, history_rows = await inbound_repo.named_with_history(
            deps.pool,
            tenant_id,
            cid,
            ids=msg.message_ids,
            history_since=history_since,
            history_limit=max_messages,
        )
    elif prefetched is not None and window == current_window:
        burst_rows, history_rows = prefetched
    else:
        # first burst of the tenant here, or its window changed since the last one
        max_messages, history_since = context_window.history_window(current_window, conv, utcnow())
        burst_rows, history_rows = await inbound_repo.burst_with_history(
            deps.pool,
            tenant_id,
            cid,
            up_to_id=last_id,
            since=conv["context_reset_at"],
            history_since=history_since,
            history_limit=max_messages,
        )
    if not burst_rows:
        REPLIES.labels("nothing_to_answer").inc()
        return
    if deps.process_media is not None:
        await process_media_rows(deps.process_media, client, burst_rows, delivery.retry_count)
    polite = polite_only(burst_rows)
    # the turn's quality is recorded when a model ran (not for the media fallback)
    repeated: bool | None = None
    if polite:
        # nothing the customer sent could be understood: ask them to write, never stay silent
        output = ResponderOutput(messages=polite, usage=Usage(model="media_fallback"))
    else:
        output = await _respond(deps, msg, client, conv, burst_rows, history_rows, utcnow())
        repeated = quality.customer_repeated(history_rows, burst_rows)
    voice = await _voice_note(deps, msg, client, conv, burst_rows, output) if not polite else None
    await _commit_reply(
        deps,
        msg,
        client,
        output,
        last_id,
        msg.first_message_at,
        plan=followups.plan_of(tenant.followups),
        # a re-answer is never overdue: a newer customer message makes it stale (dropped)
        overdue=not reanswer
        and context_window.overdue(tenant.debounce, burst_rows[0]["created_at"]),
        provider=conv.get("provider"),
        react_to=last_customer_message_id(burst_rows),
        voice=voice,
        repeated=repeated,
    )


async def _voice_note(
    deps: RagDeps,
    msg: BurstReady,
    client: dict[str, Any],
    conv: dict[str, Any],
    burst_rows: list[dict[str, Any]],
    output: ResponderOutput,
) -> VoiceNote | None:
    """The reply spoken, when the tenant (or the contact) wants voice; else None."""
    if deps.voice is None or not client["tools_config"].get(voice_reply.ATTRIBUTE):
        return None
    attributes = dict(conv.get("attributes") or {})
    wish = voice_reply.contact_wish([r["content"] or "" for r in burst_rows])
    if wish is not None and attributes.get(voice_reply.ATTRIBUTE) != wish:
        await voice_reply.remember_wish(deps.pool, msg.tenant_id or "", msg.conversation_id, wish)
        attributes[voice_reply.ATTRIBUTE] = wish
    kinds = [str(r["kind"]) for r in burst_rows]
    if not voice_reply.wants_voice(client["tools_config"], attributes, kinds):
        return None
    return await deps.voice.speak(
        output,
        client["tools_config"],
        deps.secrets.decrypt,
        tenant_id=msg.tenant_id or "",
        conversation_id=msg.conversation_id,
        correlation_id=msg.correlation_id,
    )


async def _respond(
    deps: RagDeps,
    msg: BurstReady,
    client: dict[str, Any],
    conv: dict[str, Any],
    burst_rows: list[dict[str, Any]],
    history_rows: list[dict[str, Any]],
    now: datetime,
) -> ResponderOutput:
    tenant_id, cid = msg.tenant_id or "", msg.conversation_id
    tenant = Tenant(
        id=tenant_id,
        name=client["name"],
        system_prompt=client["system_prompt"],
        timezone=client["timezone"],
        tools_config=client["tools_config"],
    )
    inp = ResponderInput(
        tenant=tenant,
        conversation_id=cid,
        contact_key=conv["contact_key"],
        contact_name=conv["contact_name"],
        history=[turn_from_row(r) for r in history_rows],
        burst=[burst_turn(r) for r in burst_rows],
        now=now,
        correlation_id=msg.correlation_id,
        lead_context=(conv.get("attributes") or {}).get(LEAD_CONTEXT),
        sandbox=conv.get("provider") == Provider.SANDBOX.value,
    )
    return await deps.responder_for(tenant).respond(inp)


async def _commit_reply(
    deps: RagDeps,
    msg: BurstReady,
    client: dict[str, Any],
    output: ResponderOutput,
    last_id: int,
    first_at: datetime,
    *,
    plan: followups.FollowupPlan,
    overdue: bool = False,
    provider: str | None = None,
    react_to: str | None = None,
    voice: VoiceNote | None = None,
    repeated: bool | None = None,
) -> None:
    tenant_id, cid = msg.tenant_id or "", msg.conversation_id
    # already bubbles: shaping them again would repeat each copyable value (a Pix key twice)
    rows = reply_rows(output, provider=provider, react_to=react_to, voice=voice)
    bubbles = [row.content for row in rows]
    rich = any(row.kind != "text" for row in rows)
    origin = "system" if output.handover_reason or output.opt_out else "bot"
    usage = output.usage
    latency_ms = int((utcnow() - first_at).total_seconds() * 1000)
    responded = {
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "latency_ms": latency_ms,
        "bubbles": len(bubbles),
        "messages": len(msg.message_ids),
    }
    turn = (
        quality.turn_quality(
            output, bubbles, repeated=repeated, prices=deps.prices, usd_brl=deps.usd_brl
        ).as_event()
        if repeated is not None
        else None
    )
    # the common reply (no handover, no opt-out, no file) is one statement: no transaction
    files = [
        (row.file_id, f"reply:{msg.burst_id}:{i}") for i, row in enumerate(rows) if row.file_id
    ]
    made = [(row.data, f"reply:{msg.burst_id}:{i}") for i, row in enumerate(rows) if row.data]
    # a sandbox reply keeps its trace, written with it: that takes a transaction
    traced = provider == Provider.SANDBOX.value
    whole = (
        not traced and not output.handover_reason and not output.opt_out and not files and not made
    )
    handed_over = opted_out = False
    alert_ids: list[int] = []
    async with deps.pool.acquire() as conn, _transaction(conn, not whole):
        # one statement: lock the conversation, check it still wants this reply (the bot's,
        # no newer customer message unless overdue), queue the bubbles, log the outcome
        # (`ai_responded` or `reply_dropped`) and, for the common reply, schedule the next
        # follow-up
        conv, why, new_ids = await conv_repo.lock_and_queue_reply(
            conn,
            tenant_id,
            cid,
            after_id=last_id,
            overdue=overdue,
            bubbles=[(text, f"reply:{msg.burst_id}:{i}") for i, text in enumerate(bubbles)],
            burst_id=msg.burst_id,
            payload={"origin": origin},
            event=(ev.AI_RESPONDED, responded),
            drop_event_type=ev.REPLY_DROPPED,
            correlation_id=msg.correlation_id,
            followup_delays_s=(
                [st.delay.total_seconds() for st in plan.stages] if plan.active else []
            )
            if whole
            else None,
            followup_from=utcnow(),
            shapes=[(row.kind, row.extra) for row in rows] if rich else None,
            quality=turn,
        )
        if conv is None:
            return
        if why is not None:
            # "stale": the newer messages are answered with these by the next burst; once the
            # customer has waited the maximum wait the reply goes out and the newer ones next
            REPLIES.labels(f"dropped_{why}").inc()
            log.info("reply_dropped", why=why)
            return
        first_id = new_ids[0] if new_ids else None
        if traced and first_id is not None:
            await reply_traces.record(
                conn,
                tenant_id,
                cid,
                first_id,
                msg.burst_id,
                reply_traces.trace_of(
                    usage,
                    latency_ms=latency_ms,
                    message_ids=msg.message_ids,
                    handover_reason=output.handover_reason,
                ),
            )
        if files:
            await reply_files.queue_for_messages(conn, tenant_id, files)
        for data, key in made:
            await reply_files.queue_bytes(conn, tenant_id, key, VOICE_MIME, VOICE_FILENAME, data)
        if output.handover_reason:
            until = human_reply.human_pause_until(
                client["tools_config"], client.get("human_attendant_timeout"), utcnow()
            )
            # the row was the bot's (locked above): True means it moved to human now
            handed_over = await conversation_state.handover(
                conn,
                tenant_id,
                cid,
                cause=f"ai:{output.handover_reason}",
                until=until,
                correlation_id=msg.correlation_id,
            )
            # an owner testing a handover on "Testar o bot" alerts nobody (no bell, no message)
            if handed_over and not traced:
                alert_ids = await handover_alerts.queue_alerts(
                    conn, tenant_id, cid, cause=output.handover_reason, reply_key=msg.burst_id
                )
        elif output.opt_out:
            opted_out = await conversation_state.opt_out(
                conn, tenant_id, cid, cause="ai_tool", correlation_id=msg.correlation_id
            )
        elif bubbles and not whole:
            await followups.schedule_followup(
                conn, tenant_id, cid, client.get("followup_config") or {}, utcnow(), locked=conv
            )
    REPLIES.labels("answered" if first_id else "empty").inc()
    if first_id is not None:
        await _publish(deps, msg, first_id, origin)
    for new_id in new_ids:
        await deps.notifier.notify(tenant_id, cid, "message.created", message_id=new_id)
    if handed_over and not traced:
        await deps.notifier.notify(
            tenant_id, cid, "handover.requested", state="human", cause=output.handover_reason
        )
        for alert_id in alert_ids:
            await _publish(deps, msg, alert_id, "system")
    elif opted_out:
        await deps.notifier.notify(
            tenant_id, cid, "conversation.updated", state="opted_out", cause="ai_tool"
        )


def _transaction(conn: Any, needed: bool) -> contextlib.AbstractAsyncContextManager[Any]:
    """The connection's transaction, or nothing when the work is a single statement."""
    return conn.transaction() if needed else contextlib.nullcontext()


async def _publish(deps: RagDeps, msg: BurstReady, outbound_id: int, origin: str) -> None:
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


# one handler per message type the rag-worker consumes (`wacommon.broker.dispatch`)
HANDLERS: dict[type[Envelope], MessageHandler[RagDeps]] = {BurstReady: handle_burst_ready}
