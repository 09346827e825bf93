"""`/admin/clients/{id}/providers`: a tenant's provider instances (Meta, Uazapi, LancePilot)."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import HTTPException, Response, status

from meta_gateway.admin.auth import parse_id, tenant_or_404
from meta_gateway.admin.models import ProviderCreate, ProviderOut, ProviderUpdate
from wacommon.infra.crypto import SecretBox, mask
from wacommon.infra.errors import RouteTaken
from wacommon.infra.settings import Settings
from wacommon.repositories import providers as providers_repo
from wacommon.web.api_types import TenantPath


def webhook_url(settings: Settings, row: dict[str, Any]) -> str | None:
    """The URL an unsigned provider (Uazapi, LancePilot) must post to for this instance."""
    return providers_repo.webhook_url(settings.public_base_url, row)


def _provider_out(settings: Settings, row: dict[str, Any]) -> ProviderOut:
    fields = {k: v for k, v in row.items() if k in ProviderOut.model_fields}
    fields.update(
        id=str(row["id"]),
        tenant_id=str(row["client_id"]),
        config=mask(row["config"]),
        webhook_url=webhook_url(settings, row),
    )
    return ProviderOut(**fields)


class ProviderRoutes:
    """The provider-instance routes, bound to the settings, the pool and the secret box."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.settings, self.pool, self.box = settings, pool, box

    async def create_provider(self, tenant_id: TenantPath, body: ProviderCreate) -> ProviderOut:
        """Add a provider instance; the answer carries its id and, for Uazapi/LancePilot, its webhook URL."""
        cid = await tenant_or_404(self.pool, tenant_id)
        try:
            row = await providers_repo.create_provider(self.pool, self.box, cid, body.model_dump())
        except RouteTaken as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except asyncpg.UniqueViolationError:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "an instance with this provider_type and instance_name exists",
            ) from None
        return _provider_out(self.settings, row)

    async def list_providers(self, tenant_id: TenantPath) -> list[ProviderOut]:
        """The tenant's provider instances (secrets masked)."""
        cid = await tenant_or_404(self.pool, tenant_id)
        return [
            _provider_out(self.settings, r)
            for r in await providers_repo.list_providers(self.pool, self.box, cid)
        ]

    async def get_provider(self, tenant_id: TenantPath, provider_id: str) -> ProviderOut:
        """One provider instance of this tenant."""
        row = await providers_repo.get_provider(
            self.pool, self.box, parse_id(tenant_id, "client"), parse_id(provider_id, "provider")
        )
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return _provider_out(self.settings, row)

    async def update_provider(
        self, tenant_id: TenantPath, provider_id: str, body: ProviderUpdate
    ) -> ProviderOut:
        """Change an instance; `config` keys are merged into the stored config."""
        try:
            row = await providers_repo.update_provider(
                self.pool,
                self.box,
                parse_id(tenant_id, "client"),
                parse_id(provider_id, "provider"),
                body.model_dump(exclude_unset=True),
            )
        except RouteTaken as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, "instance_name already in use") from None
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return _provider_out(self.settings, row)

    async def delete_provider(self, tenant_id: TenantPath, provider_id: str) -> Response:
        """Remove an instance of this tenant."""
        deleted = await providers_repo.delete_provider(
            self.pool, parse_id(tenant_id, "client"), parse_id(provider_id, "provider")
        )
        if not deleted:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
        return Response(status_code=status.HTTP_204_NO_CONTENT)
