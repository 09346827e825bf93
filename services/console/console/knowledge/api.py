"""The owner's knowledge base (`/api/knowledge`): upload, list, delete, ask, File Search.

Owners only (agents 403), scoped to the session's tenant: another tenant's document id is
404. Uploads take one file per request, so a page sending several learns each one's fate.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from console.auth.deps import require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.knowledge.messages import FILE_REQUIRED, NOT_FOUND, refused
from console.knowledge.views import DocumentOut, FileSearchOut, KnowledgeOut, document_out
from console.knowledge.views import knowledge_out as knowledge_view
from waai.knowledge.extract import DocumentNotSupported, DocumentUnreadable
from waai.knowledge.library import DocumentNameInvalid, DocumentTooLarge, KnowledgeBase
from wacommon.web.api_types import NUL_FREE
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

REFUSALS = (DocumentTooLarge, DocumentNameInvalid, DocumentNotSupported, DocumentUnreadable)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=500, pattern=NUL_FREE)


class PassageOut(BaseModel):
    document: str
    heading: str
    text: str
    score: float


class AnswerOut(BaseModel):
    # what was searched: the question, or the model's rewrite of it (llm_config.query_rewrite)
    query: str
    # "offline": the tenant has no model, its bot quotes passages; "model": they go to the model
    mode: str
    k: int
    hybrid: bool
    passages: list[PassageOut]


class Switch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool


def knowledge_of(deps: ConsoleDeps) -> KnowledgeBase:
    assert deps.knowledge is not None  # ConsoleDeps.build always sets one
    return deps.knowledge


@dataclass(frozen=True, slots=True)
class OwnerScope:
    """An owner's request: the knowledge bases and the tenant it is scoped to."""

    deps: ConsoleDeps
    knowledge: KnowledgeBase
    tenant: str


async def owner_scope(
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> OwnerScope:
    """Owners and operators (agents 403), on the session's tenant (another one is 404)."""
    return OwnerScope(deps, knowledge_of(deps), str(tenant))


def sync_in_background(deps: ConsoleDeps, tenant: str) -> None:
    """Mirror the tenant's unsynced documents to File Search without holding the request;
    the page polls the statuses. One sync per tenant at a time in this process."""
    name = f"kb-sync:{tenant}"
    if any(t.get_name() == name for t in deps.tasks):
        return

    async def run() -> None:
        try:
            await knowledge_of(deps).sync_pending(tenant)
        except Exception as exc:  # a failure is recorded per document; this is the rest
            log.warning("file_search_background_sync_failed", tenant_id=tenant, error=repr(exc))

    task = asyncio.create_task(run(), name=name)
    deps.tasks.add(task)
    task.add_done_callback(deps.tasks.discard)


async def overview(
    scope: OwnerScope = Depends(owner_scope),
) -> KnowledgeOut:
    """The documents (size, passages, dates, File Search status) and the switch."""
    return await knowledge_view(scope.knowledge, scope.tenant)


async def upload(
    request: Request,
    scope: OwnerScope = Depends(owner_scope),
) -> DocumentOut:
    """Add a document from a multipart `file` (optional `name`); the same name replaces
    the old one, which stays in place when this one is refused."""
    knowledge, tenant = scope.knowledge, scope.tenant
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, FILE_REQUIRED)
    form = await request.form(max_files=1, max_fields=3)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise invalid(("body", "file"), FILE_REQUIRED, "missing")
    name = form.get("name") or upload.filename or ""
    data = await upload.read(knowledge.max_bytes + 1)
    try:
        doc = await knowledge.add(tenant, str(name), data)
    except REFUSALS as exc:
        raise refused(exc, knowledge.limits) from None
    statuses = await knowledge.sync_statuses(scope.tenant)
    on = await knowledge.file_search_state(scope.tenant) != "off"
    return document_out(doc, statuses.get(doc.id) if on else None)


async def delete(
    document_id: str,
    scope: OwnerScope = Depends(owner_scope),
) -> Response:
    """Remove a document: the bot stops reading it at once."""
    if not await scope.knowledge.delete(scope.tenant, document_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def ask(
    body: Question,
    scope: OwnerScope = Depends(owner_scope),
) -> AnswerOut:
    """The passages the bot would read for a customer asking `question`, ranked."""
    found = await scope.knowledge.ask(scope.tenant, body.question)
    return AnswerOut(
        query=found.query,
        mode=found.mode,
        k=found.k,
        hybrid=found.hybrid,
        passages=[
            PassageOut(document=p.document, heading=p.heading, text=p.text, score=p.score)
            for p in found.passages
        ],
    )


async def switch(
    body: Switch,
    scope: OwnerScope = Depends(owner_scope),
) -> FileSearchOut:
    """Turn Gemini File Search on or off; turning it on sends the documents up."""
    state = await scope.knowledge.switch_file_search(scope.tenant, body.enabled)
    if state == "on":
        sync_in_background(scope.deps, scope.tenant)
    return FileSearchOut(enabled=body.enabled, state=state)


async def resync(
    scope: OwnerScope = Depends(owner_scope),
) -> FileSearchOut:
    """Try again the documents whose copy is missing, stale or failed."""
    state = await scope.knowledge.file_search_state(scope.tenant)
    if state == "on":
        sync_in_background(scope.deps, scope.tenant)
    return FileSearchOut(enabled=state != "off", state=state)


def knowledge_router() -> APIRouter:
    """Every route of `/api/knowledge`, in the order they are matched."""
    router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])
    router.add_api_route("", overview, methods=["GET"], response_model=KnowledgeOut)
    router.add_api_route(
        "/documents",
        upload,
        methods=["POST"],
        response_model=DocumentOut,
        status_code=status.HTTP_201_CREATED,
        responses={
            413: {"description": "file over KNOWLEDGE_MAX_BYTES"},
            415: {"description": "not .txt, .md, .pdf, .docx, .csv or .html"},
            422: {"description": "empty or unreadable file, bad name"},
        },
    )
    router.add_api_route(
        "/documents/{document_id}",
        delete,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
    )
    router.add_api_route("/ask", ask, methods=["POST"], response_model=AnswerOut)
    router.add_api_route("/file-search", switch, methods=["PUT"], response_model=FileSearchOut)
    router.add_api_route(
        "/file-search/sync", resync, methods=["POST"], response_model=FileSearchOut, status_code=202
    )
    return router
