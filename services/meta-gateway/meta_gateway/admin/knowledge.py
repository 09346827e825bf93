"""Admin routes for a tenant's knowledge base: documents and the retrieval preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin, tenant_or_404
from waai.knowledge.embeddings import Embedders
from waai.knowledge.extract import (
    DocumentNotSupported,
    DocumentUnreadable,
    document_limits,
)
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.library import DocumentNameInvalid, DocumentTooLarge, KnowledgeBase
from waai.knowledge.retrieval import PgRetriever
from waai.llm.config import AISettings
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.settings import Settings
from wacommon.web.api_types import NUL_FREE, NulFreeStr, TenantPath
from wacommon.web.http_errors import invalid, invalid_model


class TextDocument(BaseModel):
    model_config = ConfigDict(strict=True)

    name: NulFreeStr = Field(min_length=1, max_length=200)
    # document content: NUL characters are dropped with the rest of the extraction noise
    text: str = Field(min_length=1)


# the body is read by hand (JSON or multipart): this is what the OpenAPI tells clients
DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TextDocument.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 200},
                    },
                }
            },
        },
    }
}


class DocumentOut(BaseModel):
    id: str
    name: str
    source_kind: str
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class PassageOut(BaseModel):
    document: str
    text: str
    score: float


def _doc_out(doc: Any) -> DocumentOut:
    return DocumentOut(
        id=str(doc.id),
        name=doc.name,
        source_kind=doc.source_kind,
        chunk_count=doc.chunk_count,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


class KnowledgeRoutes:
    """The knowledge-base routes, bound to the tenant documents' library."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        file_search: FileSearchSyncs | None = None,
        embedders: Embedders | None = None,
    ) -> None:
        ai = AISettings()
        decrypt = box_from_settings(settings).decrypt
        embedding = embedders or Embedders(ai, decrypt)
        knowledge = KnowledgeBase(
            pool,
            ai,
            decrypt,
            document_limits(settings),
            max_bytes=settings.knowledge_max_bytes,
            file_search=file_search,
            embedders=embedding,
        )
        self.pool = pool
        self.embedding = embedding
        self.knowledge = knowledge

    async def tenant(self, tenant_id: str) -> str:
        """The tenant's id, or 404."""
        return await tenant_or_404(self.pool, tenant_id)

    async def add_document(self, tenant_id: TenantPath, request: Request) -> DocumentOut:
        """Add or replace a document: a multipart `file` upload, or JSON `{name, text}`."""
        cid = await self.tenant(tenant_id)
        ctype = request.headers.get("content-type", "")
        upload_kind = ctype.startswith("multipart/form-data")
        if upload_kind:
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise invalid(("body", "file"), "multipart field 'file' is required", "missing")
            data = await upload.read()
            name = str(form.get("name") or upload.filename or "documento.txt")
        else:
            try:
                body = TextDocument.model_validate_json(await request.body())
            except ValidationError as exc:
                raise invalid_model(exc) from None
            name, data = body.name, body.text.encode()
        try:
            # a File Search sync failure is recorded on the document, never fails the upload
            # a file document keeps its bytes: the bot may send a PDF as it is (send_file)
            doc = await self.knowledge.add(cid, name, data, keep_pdf=upload_kind)
        except DocumentNameInvalid as exc:
            raise invalid(("body", "name"), str(exc)) from None
        except DocumentTooLarge as exc:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
        except DocumentNotSupported as exc:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None
        except DocumentUnreadable as exc:
            raise invalid(("body", "file" if upload_kind else "text"), str(exc)) from None
        return _doc_out(doc)

    async def list_documents(self, tenant_id: TenantPath) -> list[DocumentOut]:
        """The tenant's documents."""
        return [_doc_out(d) for d in await self.knowledge.documents(await self.tenant(tenant_id))]

    async def delete_document(self, tenant_id: TenantPath, doc_id: str) -> Response:
        """Remove a document; it leaves retrieval at once."""
        if not await self.knowledge.delete(await self.tenant(tenant_id), doc_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "document not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    async def search(
        self,
        tenant_id: TenantPath,
        q: str = Query(min_length=1, max_length=500, pattern=NUL_FREE),
        k: int = Query(3, ge=1, le=20),
    ) -> list[PassageOut]:
        """The passages the responder would receive for `q`, ranked."""
        cid = await self.tenant(tenant_id)
        async with self.embedding.open(await self.knowledge.tools_config(cid)) as embedder:
            found = await PgRetriever(self.pool, embedder=embedder).search(cid, q, k)
        return [
            PassageOut(document=p.document, text=p.text, score=round(p.score, 4)) for p in found
        ]


def knowledge_router(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    file_search: FileSearchSyncs | None = None,
    embedders: Embedders | None = None,
) -> APIRouter:
    """`/admin/clients/{id}/documents` and `/admin/clients/{id}/knowledge/search`."""
    router = APIRouter(
        prefix="/admin/clients/{client_id}",
        tags=["knowledge base"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    routes = KnowledgeRoutes(settings, pool, file_search=file_search, embedders=embedders)
    router.add_api_route(
        "/documents",
        routes.add_document,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=DocumentOut,
        openapi_extra=DOCUMENT_BODY,
        responses={
            413: {"description": "document over KNOWLEDGE_MAX_BYTES (20 MB)"},
            415: {"description": "unsupported file type"},
        },
    )
    router.add_api_route(
        "/documents", routes.list_documents, methods=["GET"], response_model=list[DocumentOut]
    )
    router.add_api_route(
        "/documents/{doc_id}",
        routes.delete_document,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
    )
    router.add_api_route(
        "/knowledge/search", routes.search, methods=["GET"], response_model=list[PassageOut]
    )
    return router
