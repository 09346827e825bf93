"""What the provider modules of the channels page share: the guarded client, the instance
row of the tenant, and the answer shapes (secrets masked)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from fastapi import HTTPException

from console.channels.provider_http import guard_reason
from console.deps import ConsoleDeps
from wacommon.infra.crypto import mask
from wacommon.infra.netguard import AddressBlocked, HostNotFound, check_url, public_only_client
from wacommon.repositories import providers as providers_repo
from wacommon.web.http_errors import invalid

INSTANCE_NOT_FOUND = "canal não encontrado"
_DIGITS = frozenset("0123456789")


def guarded_client(deps: ConsoleDeps) -> httpx.AsyncClient:
    """Provider URLs are typed by the tenant: private addresses only for TOOL_ALLOWED_HOSTS."""
    return public_only_client(
        deps.settings.link_hosts(), timeout_s=deps.settings.channels_http_timeout_s
    )


async def checked_base_url(deps: ConsoleDeps, url: str, field: str) -> str:
    """`url` without its trailing slash, or a 422 naming `field` with the reason."""
    try:
        await check_url(url, deps.settings.link_hosts())
    except (AddressBlocked, HostNotFound) as exc:
        raise invalid(("body", field), f"endereço recusado: {guard_reason(exc)}") from None
    return url.rstrip("/")


def phone_digits(value: str | None, field: str) -> str | None:
    """A phone number as digits with the country code (10 to 15), or a 422 naming `field`."""
    if value is None or not value.strip():
        return None
    # ASCII digits only: str.isdigit() also takes other scripts' digits and superscripts
    digits = "".join(ch for ch in value if ch in _DIGITS)
    rest = "".join(ch for ch in value if ch not in _DIGITS and ch not in "+-() .")
    if rest or not 10 <= len(digits) <= 15:
        raise invalid(
            ("body", field),
            "informe o número com DDI e DDD, só dígitos (ex.: 5511999998888)",
        )
    return digits


async def instance_of(
    deps: ConsoleDeps, tenant: UUID, instance_id: str, provider_type: str
) -> dict[str, Any]:
    """The tenant's instance of that provider; anything else (another tenant's) is 404."""
    try:
        UUID(instance_id)
    except ValueError:
        raise HTTPException(404, INSTANCE_NOT_FOUND) from None
    row = await providers_repo.get_provider(deps.pool, deps.secrets, str(tenant), instance_id)
    if row is None or row["provider_type"] != provider_type:
        raise HTTPException(404, INSTANCE_NOT_FOUND)
    return row


def webhook_url(deps: ConsoleDeps, row: dict[str, Any]) -> str | None:
    return providers_repo.webhook_url(deps.settings.public_base_url, row)


def instance_out(deps: ConsoleDeps, row: dict[str, Any]) -> dict[str, Any]:
    """An instance as the API shows it: secrets masked, its webhook URL."""
    return {
        "id": str(row["id"]),
        "provider_type": row["provider_type"],
        "instance_name": row["instance_name"],
        "config": mask(row["config"]),
        "phone_number": row["phone_number"],
        "is_active": row["is_active"],
        "is_default": row["is_default"],
        "webhook_url": webhook_url(deps, row),
    }
