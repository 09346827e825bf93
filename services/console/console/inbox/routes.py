"""The inbox API under /api/: every query scoped to the session's tenant (another tenant's
id is 404), every transition through `wacommon.conversation.state` with its event, and a
notification after each commit so every open page updates."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import httpx
import structlog
from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from console.auth.deps import Scoped, current_user, scoped, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.inbox import queries
from console.inbox.media import media_response
from console.inbox.models import AssignIn, CloseIn, ReplyIn, TakeoverIn
from console.inbox.serialize import (
    conversation_json,
    decode_cursor,
    encode_cursor,
    json_response,
    message_json,
)
from console.inbox.templates import TemplatesUnavailable, approved_templates, render
from wacommon.broker.notify import BrokerNotifier, Kind, Notifier, NullNotifier
from wacommon.broker.schemas import SendReply
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import state as cs
from wacommon.conversation.human_send import (
    KIND_MAX_BYTES,
    MAX_TEXT_CHARS,
    MEDIA_TYPES,
    HumanReply,
    ReplyRefused,
    StoredFile,
    queue_human_reply,
)
from wacommon.infra.errors import CredentialNotFound
from wacommon.repositories import event_types as ev
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import record_event

log = structlog.get_logger(__name__)

NOT_FOUND = "conversa não encontrada"
STATES = ("human", "bot", "closed", "opted_out", "all")
PAGE = 50
THREAD_PAGE = 50


def _notifier(request: Request) -> Notifier:
    found: Notifier | None = getattr(request.app.state, "inbox_notifier", None)
    if found is None:
        deps: ConsoleDeps = request.app.state.deps
        found = (
            BrokerNotifier(deps.connection, deps.settings)
            if deps.connection is not None
            else NullNotifier()
        )
        request.app.state.inbox_notifier = found
    return found


def _http(request: Request) -> httpx.AsyncClient:
    found: httpx.AsyncClient | None = getattr(request.app.state, "inbox_http", None)
    if found is None:
        found = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        request.app.state.inbox_http = found
    return found


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise HTTPException(404, NOT_FOUND) from None


async def _conversation(
    deps: ConsoleDeps, tenant: UUID, user: CurrentUser, cid: UUID
) -> dict[str, Any]:
    row = await queries.get_conversation(deps.pool, tenant, user.id, cid)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def _message(deps: ConsoleDeps, tenant: UUID, message_id: int) -> dict[str, Any]:
    row = await deps.pool.fetchrow(
        "SELECT m.id, m.direction, m.role, m.kind, m.content, m.media, m.payload, m.status,"
        " m.error_code, m.error_detail, m.sent_at, m.delivered_at, m.read_at, m.failed_at,"
        " m.created_at, m.provider_sent_at, m.burst_id, m.author_user_id, u.name AS author_name"
        " FROM chat_messages m LEFT JOIN console_users u ON u.id = m.author_user_id"
        " WHERE m.client_id = $1 AND m.id = $2",
        tenant,
        message_id,
    )
    assert row is not None
    return message_json(dict(row))


Deps = Annotated[ConsoleDeps, Depends(get_deps)]
User = Annotated[CurrentUser, Depends(current_user)]
Tenant = Annotated[UUID, Depends(tenant_scope)]
# the same three in one dependency (the hot reads: list, conversation, thread)
Scope = Annotated[Scoped, Depends(scoped)]


def inbox_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/conversations")
    async def list_conversations(
        scope: Scope,
        state: Annotated[str, Query(pattern="^(human|bot|closed|opted_out|all)$")] = "all",
        q: Annotated[str | None, Query(max_length=100)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = PAGE,
    ) -> Response:
        """The tenant's conversations, newest activity first; `next_cursor` pages on."""
        deps, user, tenant = scope.deps, scope.user, scope.tenant
        after = None
        if cursor:
            decoded = decode_cursor(cursor)
            if decoded is None:
                raise HTTPException(422, "cursor inválido")
            after = (decoded[0], _uuid(decoded[1]))
        rows = await queries.list_conversations(
            deps.pool,
            tenant,
            user.id,
            state=None if state == "all" else state,
            q=q.strip() if q and q.strip() else None,
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        next_cursor = (
            encode_cursor(last["last_message_at"], str(last["id"]))
            if more and last is not None and last["last_message_at"] is not None
            else None
        )
        return json_response(
            {"conversations": [conversation_json(r) for r in rows], "next_cursor": next_cursor}
        )

    @router.get("/conversations/{conversation_id}")
    async def get_conversation(conversation_id: str, scope: Scope) -> Response:
        row = await _conversation(scope.deps, scope.tenant, scope.user, _uuid(conversation_id))
        return json_response(conversation_json(row))

    @router.get("/conversations/{conversation_id}/messages")
    async def list_messages(
        conversation_id: str,
        scope: Scope,
        before: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = THREAD_PAGE,
    ) -> Response:
        """The thread in order (oldest first); `before` = the oldest id shown pages back."""
        deps, tenant = scope.deps, scope.tenant
        cid = _uuid(conversation_id)
        found = await queries.thread(deps.pool, tenant, cid, before=before, limit=limit + 1)
        if found is None:
            raise HTTPException(404, NOT_FOUND)
        rows = found
        more = len(rows) > limit
        rows = rows[-limit:] if more else rows
        bursts = sorted({r["burst_id"] for r in rows if r["role"] == "bot" and r["burst_id"]})
        tools: dict[str, list[dict[str, Any]]] = {}
        if bursts:
            tools = await queries.tool_calls(
                deps.pool,
                tenant,
                cid,
                bursts,
                rows[0]["created_at"] - timedelta(hours=1),
                rows[-1]["created_at"] + timedelta(hours=1),
            )
        shown: set[str] = set()
        out = []
        for r in rows:
            calls = None
            burst = r["burst_id"]
            if r["role"] == "bot" and burst and burst not in shown:
                shown.add(burst)
                calls = tools.get(burst)
            out.append(message_json(r, calls))
        return json_response({"messages": out, "before": rows[0]["id"] if more and rows else None})

    @router.post("/conversations/{conversation_id}/messages", status_code=201)
    async def send_message(
        conversation_id: str,
        request: Request,
        deps: Deps,
        user: User,
        tenant: Tenant,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        """The attendant's reply: 201 when queued, 200 with the same message for a repeated key."""
        cid = _uuid(conversation_id)
        conv = await _conversation(deps, tenant, user, cid)
        if not idempotency_key or not idempotency_key.strip():
            raise HTTPException(422, "o cabeçalho Idempotency-Key é obrigatório")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            reply = await _file_reply(request, deps)
        else:
            reply = await _json_reply(request, deps, tenant, conv)
        try:
            async with deps.pool.acquire() as conn:
                result = await queue_human_reply(
                    conn,
                    str(tenant),
                    str(cid),
                    user_id=str(user.id),
                    key=idempotency_key.strip(),
                    reply=reply,
                )
        except ReplyRefused as exc:
            raise HTTPException(exc.status, exc.detail) from None
        if result is None:
            raise HTTPException(404, NOT_FOUND)
        row, created, state = result
        if created:
            await _publish_send(deps, str(tenant), str(cid), int(row["id"]))
            notifier = _notifier(request)
            await notifier.notify(str(tenant), str(cid), "message.created", message_id=row["id"])
            if state != conv["state"]:
                await notifier.notify(
                    str(tenant), str(cid), "conversation.updated", state=state, cause="human_reply"
                )
        body = await _message(deps, tenant, int(row["id"]))
        return json_response(body, status_code=201 if created else 200)

    @router.get("/conversations/{conversation_id}/templates")
    async def list_templates(
        conversation_id: str, request: Request, deps: Deps, user: User, tenant: Tenant
    ) -> dict[str, Any]:
        """The approved templates of the conversation's number (Meta; cached a few minutes)."""
        conv = await _conversation(deps, tenant, user, _uuid(conversation_id))
        return {"templates": await _templates(request, deps, tenant, conv)}

    @router.post("/conversations/{conversation_id}/takeover")
    async def takeover(
        conversation_id: str,
        request: Request,
        deps: Deps,
        user: User,
        tenant: Tenant,
        body: Annotated[TakeoverIn | None, Body()] = None,
    ) -> Response:
        """Pause the bot for this conversation (for `minutes`, else until released/closed)."""
        cid = _uuid(conversation_id)
        conv = await _conversation(deps, tenant, user, cid)
        if conv["state"] == "opted_out":
            raise HTTPException(409, "o cliente pediu para não receber mensagens (opt-out)")
        minutes = body.minutes if body else None
        async with deps.pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval("SELECT now()")
            until = now + timedelta(minutes=minutes) if minutes else None
            if conv["state"] == "human":
                # already held: the new takeover only sets when the pause ends (none =
                # until released); no transition, so no event (the dashboard counts takeovers)
                await conn.execute(
                    "UPDATE active_conversations SET state_until = $3, state_reason = 'console',"
                    " updated_at = now() WHERE client_id = $1 AND id = $2 AND state = 'human'",
                    tenant,
                    cid,
                    until,
                )
            else:
                await cs.handover(conn, str(tenant), str(cid), cause="console", until=until)
            await _assign_if_free(conn, tenant, cid, user.id)
        return await _updated(request, deps, tenant, user, cid, "console_takeover")

    @router.post("/conversations/{conversation_id}/release")
    async def release(
        conversation_id: str, request: Request, deps: Deps, user: User, tenant: Tenant
    ) -> Response:
        """Back to the bot; what the attendants wrote meanwhile is in its next context."""
        cid = _uuid(conversation_id)
        conv = await _conversation(deps, tenant, user, cid)
        if conv["state"] != "human":
            raise HTTPException(409, "a conversa não está com um atendente")
        async with deps.pool.acquire() as conn:
            moved = await cs.resume(conn, str(tenant), str(cid), cause="console")
        if not moved:
            raise HTTPException(409, "a conversa não está com um atendente")
        return await _updated(request, deps, tenant, user, cid, "console_release")

    @router.post("/conversations/{conversation_id}/close")
    async def close(
        conversation_id: str,
        body: CloseIn,
        request: Request,
        deps: Deps,
        user: User,
        tenant: Tenant,
    ) -> Response:
        """Close: `resolved` counts as resolved by a human on the dashboard."""
        cid = _uuid(conversation_id)
        conv = await _conversation(deps, tenant, user, cid)
        if conv["state"] not in ("bot", "human"):
            raise HTTPException(409, "só conversas abertas (robô ou atendente) podem ser fechadas")
        resolved = body.resolution == "resolved"
        async with deps.pool.acquire() as conn:
            moved = await cs.close(
                conn,
                str(tenant),
                str(cid),
                by="human",
                cause=f"console:{body.resolution}",
                event=ev.RESOLVED if resolved else ev.CONVERSATION_CLOSED,
                extra={
                    "resolved_by": "human",
                    "resolution": body.resolution,
                    "user_id": str(user.id),
                },
            )
        if not moved:
            raise HTTPException(409, "a conversa mudou de estado; recarregue")
        return await _updated(request, deps, tenant, user, cid, "console_close")

    @router.post("/conversations/{conversation_id}/assign")
    async def assign(
        conversation_id: str,
        body: AssignIn,
        request: Request,
        deps: Deps,
        user: User,
        tenant: Tenant,
    ) -> Response:
        """Give the conversation to a user of this tenant (`null` unassigns)."""
        cid = _uuid(conversation_id)
        await _conversation(deps, tenant, user, cid)
        async with deps.pool.acquire() as conn, conn.transaction():
            if body.user_id is not None and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM console_users WHERE id = $1 AND client_id = $2"
                " AND is_active)",
                body.user_id,
                tenant,
            ):
                raise HTTPException(404, "usuário não encontrado")
            await conn.execute(
                "UPDATE active_conversations SET assigned_user_id = $3, updated_at = now()"
                " WHERE client_id = $1 AND id = $2",
                tenant,
                cid,
                body.user_id,
            )
            await record_event(
                conn,
                str(tenant),
                ev.CONVERSATION_ASSIGNED,
                {
                    "user_id": str(body.user_id) if body.user_id else None,
                    "by": str(user.id),
                },
                conversation_id=str(cid),
            )
        return await _updated(request, deps, tenant, user, cid, "console_assign")

    @router.post("/conversations/{conversation_id}/read")
    async def mark_read(conversation_id: str, deps: Deps, user: User, tenant: Tenant) -> Response:
        """Everything in the conversation is read for this user."""
        cid = _uuid(conversation_id)
        await _exists(deps, tenant, cid)
        await deps.pool.execute(
            "INSERT INTO console_reads (user_id, conversation_id, client_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = now()",
            user.id,
            cid,
            tenant,
        )
        return json_response(conversation_json(await _conversation(deps, tenant, user, cid)))

    @router.get("/media/{message_id}")
    async def media(
        message_id: int, request: Request, deps: Deps, user: User, tenant: Tenant
    ) -> Response:
        """A message's file with its content type (stored, or downloaded from the provider)."""
        return await media_response(deps, _http(request), str(tenant), message_id)

    return router


async def _exists(deps: ConsoleDeps, tenant: UUID, cid: UUID) -> None:
    found = await deps.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM active_conversations WHERE client_id = $1 AND id = $2)",
        tenant,
        cid,
    )
    if not found:
        raise HTTPException(404, NOT_FOUND)


async def _assign_if_free(conn: Any, tenant: UUID, cid: UUID, user_id: UUID) -> None:
    await conn.execute(
        "UPDATE active_conversations SET assigned_user_id = coalesce(assigned_user_id, $3)"
        " WHERE client_id = $1 AND id = $2",
        tenant,
        cid,
        user_id,
    )


async def _updated(
    request: Request, deps: ConsoleDeps, tenant: UUID, user: CurrentUser, cid: UUID, cause: str
) -> Response:
    row = await _conversation(deps, tenant, user, cid)
    kind: Kind = "conversation.updated"
    await _notifier(request).notify(str(tenant), str(cid), kind, state=row["state"], cause=cause)
    return json_response(conversation_json(row))


async def _publish_send(deps: ConsoleDeps, tenant: str, cid: str, outbound_id: int) -> None:
    """Hand the stored reply to the sender; a lost publish is sent by the sender's relay."""
    if deps.publisher is None:
        return
    try:
        await deps.publisher.publish(
            SendReply(
                tenant_id=tenant, conversation_id=cid, outbound_id=outbound_id, origin="human"
            ),
            exchange=PIPELINE,
        )
    except Exception as exc:
        log.warning("human_reply_publish_failed", outbound_id=outbound_id, error=repr(exc)[:200])


async def _templates(
    request: Request, deps: ConsoleDeps, tenant: UUID, conv: dict[str, Any]
) -> list[dict[str, Any]]:
    if conv["provider"] != "meta":
        return []
    try:
        creds = await providers_repo.load_credentials(
            deps.pool,
            deps.secrets,
            str(tenant),
            "meta",
            str(conv["provider_instance_id"]) if conv["provider_instance_id"] else None,
        )
        return await approved_templates(deps.redis, _http(request), deps.settings, creds)
    except (CredentialNotFound, TemplatesUnavailable) as exc:
        raise HTTPException(
            502, f"não foi possível consultar os modelos aprovados na Meta: {exc}"
        ) from None


async def _json_reply(
    request: Request, deps: ConsoleDeps, tenant: UUID, conv: dict[str, Any]
) -> HumanReply:
    try:
        raw = await request.json()
    except ValueError:
        raise HTTPException(422, "corpo JSON inválido") from None
    try:
        body = ReplyIn.model_validate(raw)
    except ValidationError as exc:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    if body.template is None:
        return HumanReply(kind="text", text=str(body.text))
    tpl = body.template
    approved = await _templates(request, deps, tenant, conv) if conv["provider"] == "meta" else []
    match = next(
        (t for t in approved if t["name"] == tpl.name and t["language"] == tpl.language), None
    )
    if conv["provider"] == "meta" and match is None:
        raise HTTPException(
            422, f"o modelo {tpl.name!r} ({tpl.language}) não está aprovado para este número"
        )
    text = render(match, tpl.parameters) or f"[modelo {tpl.name}]"
    return HumanReply(
        kind="template",
        text=text,
        template={"name": tpl.name, "language": tpl.language, "parameters": tpl.parameters},
    )


async def _file_reply(request: Request, deps: ConsoleDeps) -> HumanReply:
    limit = deps.settings.console_upload_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise HTTPException(413, _too_large(limit))
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "envie o arquivo no campo `file`")
    caption = form.get("caption") or form.get("text") or ""
    if not isinstance(caption, str) or len(caption) > MAX_TEXT_CHARS:
        raise HTTPException(422, f"a legenda passa de {MAX_TEXT_CHARS} caracteres")
    mime = (upload.content_type or "").split(";")[0].strip().lower()
    kind = MEDIA_TYPES.get(mime)
    if kind is None:
        raise HTTPException(
            415,
            f"tipo de arquivo não suportado pelo WhatsApp: {mime or 'desconhecido'}"
            " (imagens JPEG/PNG, áudio, vídeo MP4/3GP, PDF e documentos do Office)",
        )
    cap = min(limit, KIND_MAX_BYTES[kind])
    data = await upload.read(cap + 1)
    if len(data) > cap:
        raise HTTPException(413, _too_large(cap))
    if not data:
        raise HTTPException(422, "o arquivo está vazio")
    return HumanReply(
        kind=kind,
        text=caption.strip(),
        file=StoredFile(data, mime, upload.filename or None),
    )


def _too_large(limit: int) -> str:
    return f"arquivo grande demais: o limite é {limit / (1024 * 1024):.0f} MB"
