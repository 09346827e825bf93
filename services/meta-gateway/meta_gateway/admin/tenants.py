"""Admin routes for tenants and their provider instances."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Depends, status

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin
from meta_gateway.admin.clients import ClientRoutes
from meta_gateway.admin.models import ClientOut, ProviderOut
from meta_gateway.admin.providers import ProviderRoutes
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.web.http_errors import error_responses

TOKEN_CONFLICT = error_responses({409: "token or api_key already in use"})
INSTANCE_CONFLICT = error_responses({409: "an instance with this provider_type and name exists"})
CLIENT = "/clients/{client_id}"
PROVIDER = "/clients/{client_id}/providers/{provider_id}"


def tenants_router(settings: Settings, pool: asyncpg.Pool, box: SecretBox) -> APIRouter:
    """`/admin/clients` and `/admin/clients/{id}/providers`."""
    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        dependencies=[Depends(require_admin(settings))],
        responses=ADMIN_RESPONSES,
    )
    clients, providers = ClientRoutes(pool, box), ProviderRoutes(settings, pool, box)
    created = status.HTTP_201_CREATED
    no_content = status.HTTP_204_NO_CONTENT
    add = router.add_api_route
    add(
        "/clients",
        clients.create_client,
        methods=["POST"],
        status_code=created,
        response_model=ClientOut,
        responses=TOKEN_CONFLICT,
    )
    add("/clients", clients.list_clients, methods=["GET"], response_model=list[ClientOut])
    add(CLIENT, clients.get_client, methods=["GET"], response_model=ClientOut)
    add(
        CLIENT,
        clients.update_client,
        methods=["PATCH"],
        response_model=ClientOut,
        responses=TOKEN_CONFLICT,
    )
    add(CLIENT, clients.delete_client, methods=["DELETE"], status_code=no_content)
    add(
        f"{CLIENT}/providers",
        providers.create_provider,
        methods=["POST"],
        status_code=created,
        response_model=ProviderOut,
        responses=INSTANCE_CONFLICT,
    )
    add(
        f"{CLIENT}/providers",
        providers.list_providers,
        methods=["GET"],
        response_model=list[ProviderOut],
    )
    add(PROVIDER, providers.get_provider, methods=["GET"], response_model=ProviderOut)
    add(
        PROVIDER,
        providers.update_provider,
        methods=["PATCH"],
        response_model=ProviderOut,
        responses=INSTANCE_CONFLICT,
    )
    add(PROVIDER, providers.delete_provider, methods=["DELETE"], status_code=no_content)
    return router
