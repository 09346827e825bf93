"""rag-worker handlers: a burst in, the reply written to the outbox and handed to the sender."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from rag_worker import commit, quality, voice_reply
from rag_worker.burst_media import burst_turn, polite_only, process_media_rows
from rag_worker.deps import RagDeps
from rag_worker.rich_reply import last_customer_message_id
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
from wacommon.broker.schemas import BurstReady, Envelope, Provider, utcnow
from wacommon.conversation import bot_gate, followups
from wacommon.conversation import state as conversation_state
from wacommon.conversation.lead_context import ATTRIBUTE as LEAD_CONTEXT
from wacommon.infra.errors import PermanentError
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.tenants.config import parse_tenant

log = structlog.get_logger(__name__)


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
            await _redeliver(deps, msg, existing)
            return
        commit.REPLIES.labels("unknown_conversation").inc()
        return
    client, conv, existing, gate = context
    if existing is not None:
        await _redeliver(deps, msg, existing)
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
        commit.REPLIES.labels("bot_silent").inc()
        log.info("burst_not_answered", why=why)
        return
    reanswer = msg.burst_id.startswith(inbound_repo.REANSWER_PREFIX)
    burst_rows, history_rows = await _burst_and_history(
        deps,
        msg,
        conv,
        current_window,
        prefetched if window == current_window else None,
    )
    if not burst_rows:
        commit.REPLIES.labels("nothing_to_answer").inc()
        return
    if deps.process_media is not None:
        await process_media_rows(deps.process_media, client, burst_rows, delivery.retry_count)
    output, repeated, voice = await _answer(deps, msg, client, conv, burst_rows, history_rows)
    reply = commit.prepare(
        deps,
        msg,
        output,
        msg.first_message_at,
        provider=conv.get("provider"),
        react_to=last_customer_message_id(burst_rows),
        voice=voice,
        repeated=repeated,
    )
    await commit.commit_reply(
        deps,
        msg,
        client,
        output,
        reply,
        last_id,
        plan=followups.plan_of(tenant.followups),
        # a re-answer is never overdue: a newer customer message makes it stale (dropped)
        overdue=not reanswer
        and context_window.overdue(tenant.debounce, burst_rows[0]["created_at"]),
    )


async def _redeliver(deps: RagDeps, msg: BurstReady, existing: dict[str, Any]) -> None:
    """The burst was answered before (a redelivery): its reply goes to the sender again."""
    await commit.publish_send(
        deps, msg, int(existing["id"]), existing["payload"].get("origin", "bot")
    )
    commit.REPLIES.labels("redelivered").inc()


async def _burst_and_history(
    deps: RagDeps,
    msg: BurstReady,
    conv: dict[str, Any],
    window: tuple[int, float],
    prefetched: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The burst's messages and the history before them, as the tenant's window says."""
    tenant_id, cid = msg.tenant_id or "", msg.conversation_id
    reanswer = msg.burst_id.startswith(inbound_repo.REANSWER_PREFIX)
    if prefetched is not None and not reanswer:
        return prefetched
    max_messages, history_since = context_window.history_window(window, conv, utcnow())
    if reanswer:
        # an operator's explicit re-answer: the named messages, answered already
        return await inbound_repo.named_with_history(
            deps.pool,
            tenant_id,
            cid,
            ids=msg.message_ids,
            history_since=history_since,
            history_limit=max_messages,
        )
    # first burst of the tenant here, or its window changed since the last one
    return await inbound_repo.burst_with_history(
        deps.pool,
        tenant_id,
        cid,
        up_to_id=max(msg.message_ids),
        since=conv["context_reset_at"],
        history_since=history_since,
        history_limit=max_messages,
    )


async def _answer(
    deps: RagDeps,
    msg: BurstReady,
    client: dict[str, Any],
    conv: dict[str, Any],
    burst_rows: list[dict[str, Any]],
    history_rows: list[dict[str, Any]],
) -> tuple[ResponderOutput, bool | None, VoiceNote | None]:
    """The model's answer, whether the customer repeated themselves (None: no model ran), and
    the answer spoken when voice is wanted."""
    polite = polite_only(burst_rows)
    if polite:
        # nothing the customer sent could be understood: ask them to write, never stay silent
        return ResponderOutput(messages=polite, usage=Usage(model="media_fallback")), None, None
    output = await _respond(deps, msg, client, conv, burst_rows, history_rows, utcnow())
    repeated = quality.customer_repeated(history_rows, burst_rows)
    voice = await _voice_note(deps, msg, client, conv, burst_rows, output)
    return output, repeated, voice


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


# one handler per message type the rag-worker consumes (`wacommon.broker.dispatch`)
HANDLERS: dict[type[Envelope], MessageHandler[RagDeps]] = {BurstReady: handle_burst_ready}
