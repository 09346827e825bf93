"""Admin routes for tenants and their provider instances."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from meta_gateway.admin.auth import (
    ADMIN_RESPONSES,
    MAX_OFFSET,
    client_or_404,
    parse_id,
    require_admin,
)
from meta_gateway.admin.form_secret import ensure_form_secret
from meta_gateway.admin.models import (
    ClientCreate,
    ClientOut,
    ClientUpdate,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
)
from wacommon.infra.crypto import SecretBox, keep_masked, mask
from wacommon.infra.errors import RouteTaken
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import providers as providers_repo
from wacommon.web.http_errors import error_responses, invalid

TOKEN_CONFLICT = error_responses({409: "token or api_key already in use"})
INSTANCE_CONFLICT = error_responses({409: "an instance with this provider_type and name exists"})


def _client_out(row: dict[str, Any], form_secret: str | None = None) -> ClientOut:
    return ClientOut(
        **{**row, "id": str(row["id"]), "tools_config": mask(row["tools_config"])},
        form_secret=form_secret,
    )


def webhook_url(settings: Settings, row: dict[str, Any]) -> str | None:
    """The URL an unsigned provider (Uazapi, LancePilot) must post to for this instance."""
    return providers_repo.webhook_url(settings.public_base_url, row)


def _provider_out(settings: Settings, row: dict[str, Any]) -> ProviderOut:
    fields = {k: v for k, v in row.items() if k in ProviderOut.model_fields}
    fields.update(
        id=str(row["id"]),
        client_id=str(row["client_id"]),
        config=mask(row["config"]),
        webhook_url=webhook_url(settings, row),
    )
    return ProviderOut(**fields)


def tenants_router(settings: Settings, pool: asyncpg.Pool, box: SecretBox) -> APIRouter:
    """`/admin/clients` and `/admin/clients/{id}/providers`."""
    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )

    async def existing_client(client_id: str) -> str:
        return await client_or_404(pool, client_id)

    @router.post(
        "/clients",
        status_code=status.HTTP_201_CREATED,
        response_model=ClientOut,
        responses=TOKEN_CONFLICT,
    )
    async def create_client(body: ClientCreate) -> ClientOut:
        """Create a tenant."""
        fields = body.model_dump(exclude_none=True)
        generated = None
        if "tools_config" in fields:
            tools, generated = ensure_form_secret(fields["tools_config"])
            fields["tools_config"] = box.seal(tools)
        try:
            row = await clients_repo.create_client(pool, fields, box)
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "token or api_key already in use"
            ) from None
        return _client_out(row, generated)

    @router.get("/clients", response_model=list[ClientOut])
    async def list_clients(
        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
    ) -> list[ClientOut]:
        """List tenants."""
        return [
            _client_out(r)
            for r in await clients_repo.list_clients(pool, limit=limit, offset=offset)
        ]

    @router.get("/clients/{client_id}", response_model=ClientOut)
    async def get_client(client_id: str) -> ClientOut:
        """One tenant."""
        row = await clients_repo.get_client(pool, parse_id(client_id, "client"))
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return _client_out(row)

    @router.patch("/clients/{client_id}", response_model=ClientOut, responses=TOKEN_CONFLICT)
    async def update_client(client_id: str, body: ClientUpdate) -> ClientOut:
        """Change some fields of a tenant."""
        fields = body.model_dump(exclude_unset=True)
        if "name" in fields and fields["name"] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "name cannot be null")
        cid = parse_id(client_id, "client")
        generated = None
        if fields.get("tools_config") is not None:
            current = await clients_repo.get_client(pool, cid)
            stored = current["tools_config"] if current else {}
            tools, generated = ensure_form_secret(keep_masked(fields["tools_config"], stored))
            fields["tools_config"] = box.seal(tools)
        try:
            row = await clients_repo.update_client(pool, cid, fields, box)
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "token or api_key already in use"
            ) from None
        except asyncpg.NotNullViolationError as exc:
            raise invalid(("body", exc.column_name or ""), "cannot be null") from None
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return _client_out(row, generated)

    @router.delete("/clients/{client_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_client(client_id: str) -> Response:
        """Delete a tenant and everything it owns."""
        if not await clients_repo.delete_client(pool, parse_id(client_id, "client")):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/clients/{client_id}/providers",
        status_code=status.HTTP_201_CREATED,
        response_model=ProviderOut,
        responses=INSTANCE_CONFLICT,
    )
    async def create_provider(client_id: str, body: ProviderCreate) -> ProviderOut:
        """Add a provider instance; the answer carries its id and, for Uazapi/LancePilot, its webhook URL."""
        cid = await existing_client(client_id)
        try:
            row = await providers_repo.create_provider(pool, box, cid, body.model_dump())
        except RouteTaken as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "an instance with this provider_type and instance_name exists",
            ) from None
        return _provider_out(settings, row)

    @router.get("/clients/{client_id}/providers", response_model=list[ProviderOut])
    async def list_providers(client_id: str) -> list[ProviderOut]:
        """The tenant's provider instances (secrets masked)."""
        cid = await existing_client(client_id)
        return [
            _provider_out(settings, r) for r in await providers_repo.list_providers(pool, box, cid)
        ]

    @router.get("/clients/{client_id}/providers/{provider_id}", response_model=ProviderOut)
    async def get_provider(client_id: str, provider_id: str) -> ProviderOut:
        """One provider instance of this tenant."""
        row = await providers_repo.get_provider(
            pool, box, parse_id(client_id, "client"), parse_id(provider_id, "provider")
        )
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return _provider_out(settings, row)

    @router.patch(
        "/clients/{client_id}/providers/{provider_id}",
        response_model=ProviderOut,
        responses=INSTANCE_CONFLICT,
    )
    async def update_provider(
        client_id: str, provider_id: str, body: ProviderUpdate
    ) -> ProviderOut:
        """Change an instance; `config` keys are merged into the stored config."""
        try:
            row = await providers_repo.update_provider(
                pool,
                box,
                parse_id(client_id, "client"),
                parse_id(provider_id, "provider"),
                body.model_dump(exclude_unset=True),
            )
        except RouteTaken as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, "instance_name already in use") from None
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return _provider_out(settings, row)

    @router.delete(
        "/clients/{client_id}/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT
    )
    async def delete_provider(client_id: str, provider_id: str) -> Response:
        """Remove an instance of this tenant."""
        deleted = await providers_repo.delete_provider(
            pool, parse_id(client_id, "client"), parse_id(provider_id, "provider")
        )
        if not deleted:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
