"""The attendant's reply: text, an approved template (Meta) or a file, queued through
`wacommon.conversation.human_send` and handed to the sender."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Header, HTTPException, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from console.deps import ConsoleDeps
from console.inbox.access import (
    NOT_FOUND,
    Deps,
    Tenant,
    User,
    conversation_or_404,
    http_client,
    message_body,
    page_notifier,
    uuid_or_404,
)
from console.inbox.models import ReplyIn
from console.inbox.serialize import json_response
from console.inbox.templates import TemplatesUnavailable, approved_templates, render
from wacommon.broker.schemas import SendReply
from wacommon.broker.topology import PIPELINE
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
from wacommon.repositories import providers as providers_repo

log = structlog.get_logger(__name__)


async def send_message(
    conversation_id: str,
    request: Request,
    deps: Deps,
    user: User,
    tenant: Tenant,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The attendant's reply: 201 when queued, 200 with the same message for a repeated key."""
    cid = uuid_or_404(conversation_id)
    conv = await conversation_or_404(deps, tenant, user, cid)
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
        notifier = page_notifier(request)
        await notifier.notify(str(tenant), str(cid), "message.created", message_id=row["id"])
        if state != conv["state"]:
            await notifier.notify(
                str(tenant), str(cid), "conversation.updated", state=state, cause="human_reply"
            )
    body = await message_body(deps, tenant, int(row["id"]))
    return json_response(body, status_code=201 if created else 200)


async def list_templates(
    conversation_id: str, request: Request, deps: Deps, user: User, tenant: Tenant
) -> dict[str, Any]:
    """The approved templates of the conversation's number (Meta; cached a few minutes)."""
    conv = await conversation_or_404(deps, tenant, user, uuid_or_404(conversation_id))
    return {"templates": await _templates(request, deps, tenant, conv)}


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
        return await approved_templates(deps.redis, http_client(request), deps.settings, creds)
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
