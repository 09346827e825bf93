"""Provider credential resolution with the legacy fallback (PRODUCT.md section C).

Order: the tenant's active `client_providers` row for the provider type (default
first, then oldest); else the legacy columns `clients.api_url` / `clients.token`,
each falling back to `tools_config.whatsapp.url` / `.key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wacommon.infra.errors import CredentialNotFound


@dataclass(frozen=True)
class ProviderCredentials:
    """What a provider client needs to talk for one tenant."""

    provider_type: str
    tenant_id: str
    instance_id: str | None
    config: dict[str, Any] = field(repr=False)
    source: str = "client_providers"  # or "legacy"

    @property
    def url(self) -> str | None:
        value = self.config.get("url")
        return str(value) if value else None

    @property
    def token(self) -> str | None:
        value = self.config.get("token") or self.config.get("access_token")
        return str(value) if value else None


def resolve_credentials(
    provider_type: str,
    client: dict[str, Any],
    provider_rows: list[dict[str, Any]],
) -> ProviderCredentials:
    """Pick credentials for `client` from its provider rows, else from its legacy fields.

    `provider_rows` are the tenant's `client_providers` rows (already decrypted);
    `client` is its `clients` row (id, api_url, token, tools_config).
    """
    tenant_id = str(client["id"])
    candidates = [
        r
        for r in provider_rows
        if r["provider_type"] == provider_type
        and r.get("is_active", True)
        and str(r["client_id"]) == tenant_id
    ]
    if candidates:
        row = sorted(
            candidates, key=lambda r: (not r.get("is_default", False), r.get("created_at") or 0)
        )[0]
        return ProviderCredentials(
            provider_type, tenant_id, str(row["id"]), dict(row["config"] or {})
        )

    whatsapp = (client.get("tools_config") or {}).get("whatsapp") or {}
    if not isinstance(whatsapp, dict):
        whatsapp = {}
    url = client.get("api_url") or whatsapp.get("url")
    token = client.get("token") or whatsapp.get("key")
    legacy_provider = client.get("whatsapp_provider") or whatsapp.get("provider")
    # legacy fields describe one gateway (Uazapi in the system we replace)
    applies = legacy_provider in (None, "", "none", provider_type)
    if url and token and applies:
        config: dict[str, Any] = {"url": url, "token": token}
        for extra in ("phone_id", "access_token", "waba_id", "workspace_id", "number"):
            if whatsapp.get(extra):
                config[extra] = whatsapp[extra]
        return ProviderCredentials(provider_type, tenant_id, None, config, source="legacy")
    raise CredentialNotFound(
        f"tenant {tenant_id} has no active {provider_type} provider and no legacy credentials"
    )
