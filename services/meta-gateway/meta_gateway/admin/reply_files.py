"""Admin routes for the files the bot may send as they are (`/admin/clients/{id}/files`).

PDF documents of the knowledge base land here on upload; an image (a price table, a
menu photo) has no text to index, so it is uploaded here with a description instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin, tenant_or_404
from wacommon.infra.settings import Settings
from wacommon.repositories import reply_files
from wacommon.web.api_types import TenantPath
from wacommon.web.http_errors import invalid


class FileOut(BaseModel):
    id: str
    name: str
    mime_type: str
    description: str
    size: int


# the body is read by hand (multipart): this is what the OpenAPI tells clients
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 200},
                        "description": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


class ReplyFileRoutes:
    """The reply-file routes, bound to the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def tenant(self, tenant_id: str) -> str:
        """The tenant's id, or 404."""
        return await tenant_or_404(self.pool, tenant_id)

    async def add_file(self, tenant_id: TenantPath, request: Request) -> FileOut:
        """Add or replace (same name) a PDF, JPEG or PNG the bot may send."""
        cid = await self.tenant(tenant_id)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send multipart/form-data")
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise invalid(("body", "file"), "multipart field 'file' is required", "missing")
        name = str(form.get("name") or upload.filename or "").strip()
        if "\x00" in name or len(name) > 200:
            raise invalid(("body", "name"), "a name of 1 to 200 characters without NUL")
        mime = reply_files.mime_for(name)
        if not name or mime is None:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "the file must be .pdf, .jpg or .png"
            )
        data = await upload.read()
        if not data:
            raise invalid(("body", "file"), "the file is empty")
        if len(data) > reply_files.size_limit(mime):
            limit_mb = reply_files.size_limit(mime) // (1024 * 1024)
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"WhatsApp takes {limit_mb} MB at most"
            )
        description = str(form.get("description") or "").strip()
        if "\x00" in description or len(description) > 500:
            raise invalid(("body", "description"), "at most 500 characters, without NUL")
        stored = await reply_files.store_file(
            self.pool, cid, name, mime, data, description=description
        )
        return FileOut(**stored.__dict__)

    async def list_files(self, tenant_id: TenantPath) -> list[FileOut]:
        return [
            FileOut(**f.__dict__)
            for f in await reply_files.list_files(self.pool, await self.tenant(tenant_id))
        ]

    async def delete_file(self, tenant_id: TenantPath, file_id: str) -> Response:
        cid = await self.tenant(tenant_id)
        try:
            uuid.UUID(file_id)
        except ValueError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "file not found") from None
        if not await reply_files.delete_file(self.pool, cid, file_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "file not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)


def reply_files_router(settings: Settings, pool: asyncpg.Pool) -> APIRouter:
    """`/admin/clients/{id}/files`: upload (multipart `file`, `description`), list, delete."""
    router = APIRouter(
        prefix="/admin/clients/{client_id}/files",
        tags=["knowledge base"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    routes = ReplyFileRoutes(pool)
    router.add_api_route(
        "",
        routes.add_file,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=FileOut,
        openapi_extra=FILE_BODY,
        responses={
            413: {"description": "over WhatsApp's size for the type (5 MB image, 16 MB PDF)"},
            415: {"description": "not multipart, or not a .pdf, .jpg or .png"},
        },
    )
    router.add_api_route("", routes.list_files, methods=["GET"], response_model=list[FileOut])
    router.add_api_route(
        "/{file_id}", routes.delete_file, methods=["DELETE"], status_code=status.HTTP_204_NO_CONTENT
    )
    return router
