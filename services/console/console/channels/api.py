"""`/api/channels`: the tenant's channels with their health, Uazapi's connect flow and
LancePilot's token and test message. Owners (and operators acting for a tenant) only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, status

from console.auth.deps import require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.channels import lancepilot, uazapi
from console.channels.common import instance_out
from console.channels.health import list_channels
from console.deps import ConsoleDeps, get_deps
from wacommon.web.http_errors import error_responses

PROVIDER_ERRORS = error_responses(
    {
        404: "not this tenant's channel",
        409: "refused by the provider or by a rule (named in `detail`)",
        502: "the provider answered an error (its words in `detail`)",
        504: "the provider did not answer in time: ask again",
    }
)


@dataclass(frozen=True, slots=True)
class Owned:
    """An owner's (or acting operator's) request: the service's parts and the tenant."""

    deps: ConsoleDeps
    tenant: UUID


async def owned(
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> Owned:
    return Owned(deps, tenant)


async def channels(
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Every provider instance of the tenant with its health (secrets masked)."""
    items = await list_channels(
        o.deps.pool, o.deps.secrets, o.tenant, o.deps.settings.public_base_url
    )
    return {"channels": items}


async def uazapi_add(
    body: uazapi.UazapiAdd,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Create an instance on our Uazapi server or attach one (checked with Uazapi first)."""
    return instance_out(o.deps, await uazapi.add_instance(o.deps, o.tenant, body))


async def uazapi_connect(
    instance_id: str,
    body: uazapi.UazapiConnect,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """A QR code (no `phone`) or a pairing code (`phone`); registers our webhook."""
    return await uazapi.connect(o.deps, o.tenant, instance_id, body)


async def uazapi_status(
    instance_id: str,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Live status; `timed_out` when the code expired unanswered (connect again)."""
    return await uazapi.status(o.deps, o.tenant, instance_id)


async def uazapi_disconnect(
    instance_id: str,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Log the number out of the instance (a new code is needed to connect again)."""
    return await uazapi.disconnect(o.deps, o.tenant, instance_id)


async def lancepilot_save(
    body: lancepilot.LancePilotSave,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Store the token (checked with LancePilot first); answers the webhook URL."""
    return instance_out(o.deps, await lancepilot.save(o.deps, o.tenant, body))


async def lancepilot_test(
    instance_id: str,
    body: lancepilot.LancePilotTest,
    o: Owned = Depends(owned),
) -> dict[str, Any]:
    """Send a real test message through LancePilot to `phone`."""
    return await lancepilot.send_test(o.deps, o.tenant, instance_id, body)


def channels_api_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(prefix="/api/channels", tags=["channels"])
    router.add_api_route("", channels, methods=["GET"])
    router.add_api_route(
        "/uazapi",
        uazapi_add,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        responses=PROVIDER_ERRORS,
    )
    router.add_api_route(
        "/uazapi/{instance_id}/connect", uazapi_connect, methods=["POST"], responses=PROVIDER_ERRORS
    )
    router.add_api_route(
        "/uazapi/{instance_id}/status", uazapi_status, methods=["GET"], responses=PROVIDER_ERRORS
    )
    router.add_api_route(
        "/uazapi/{instance_id}/disconnect",
        uazapi_disconnect,
        methods=["POST"],
        responses=PROVIDER_ERRORS,
    )
    router.add_api_route("/lancepilot", lancepilot_save, methods=["PUT"], responses=PROVIDER_ERRORS)
    router.add_api_route(
        "/lancepilot/{instance_id}/test",
        lancepilot_test,
        methods=["POST"],
        responses=PROVIDER_ERRORS,
    )
    return router
