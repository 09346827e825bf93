"""`/admin/clients`: create, list, read, change and delete tenants."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import HTTPException, Query, Response, status

from meta_gateway.admin.auth import MAX_OFFSET, parse_id
from meta_gateway.admin.form_secret import ensure_form_secret
from meta_gateway.admin.models import ClientCreate, ClientOut, ClientUpdate
from wacommon.infra.crypto import SecretBox, keep_masked, mask
from wacommon.repositories import clients as clients_repo
from wacommon.web.api_types import TenantPath
from wacommon.web.http_errors import invalid


def _client_out(row: dict[str, Any], form_secret: str | None = None) -> ClientOut:
    return ClientOut(
        **{**row, "id": str(row["id"]), "tools_config": mask(row["tools_config"])},
        form_secret=form_secret,
    )


class ClientRoutes:
    """The tenant routes, bound to the pool and the secret box."""

    def __init__(self, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.pool, self.box = pool, box

    async def create_client(self, body: ClientCreate) -> ClientOut:
        """Create a tenant."""
        fields = body.model_dump(exclude_none=True)
        generated = None
        if "tools_config" in fields:
            tools, generated = ensure_form_secret(fields["tools_config"])
            fields["tools_config"] = self.box.seal(tools)
        try:
            row = await clients_repo.create_client(self.pool, fields, self.box)
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "token or api_key already in use"
            ) from None
        return _client_out(row, generated)

    async def list_clients(
        self, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
    ) -> list[ClientOut]:
        """List tenants."""
        return [
            _client_out(r)
            for r in await clients_repo.list_clients(self.pool, limit=limit, offset=offset)
        ]

    async def get_client(self, tenant_id: TenantPath) -> ClientOut:
        """One tenant."""
        row = await clients_repo.get_client(self.pool, parse_id(tenant_id, "client"))
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return _client_out(row)

    async def update_client(self, tenant_id: TenantPath, body: ClientUpdate) -> ClientOut:
        """Change some fields of a tenant."""
        fields = body.model_dump(exclude_unset=True)
        if "name" in fields and fields["name"] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "name cannot be null")
        cid = parse_id(tenant_id, "client")
        generated = None
        if fields.get("tools_config") is not None:
            current = await clients_repo.get_client(self.pool, cid)
            stored = current["tools_config"] if current else {}
            tools, generated = ensure_form_secret(keep_masked(fields["tools_config"], stored))
            fields["tools_config"] = self.box.seal(tools)
        try:
            row = await clients_repo.update_client(self.pool, cid, fields, self.box)
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "token or api_key already in use"
            ) from None
        except asyncpg.NotNullViolationError as exc:
            raise invalid(("body", exc.column_name or ""), "cannot be null") from None
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return _client_out(row, generated)

    async def delete_client(self, tenant_id: TenantPath) -> Response:
        """Delete a tenant and everything it owns."""
        if not await clients_repo.delete_client(self.pool, parse_id(tenant_id, "client")):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)
