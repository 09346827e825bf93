"""All SQL about provider instances (`client_providers`), secrets sealed at rest."""

from __future__ import annotations

from typing import Any

import asyncpg

from wacommon.infra.crypto import SecretBox, keep_masked
from wacommon.infra.dbtypes import Executor as Conn
from wacommon.infra.errors import CredentialNotFound, RouteTaken
from wacommon.providers.credentials import ProviderCredentials, resolve_credentials

_COLUMNS = (
    "id, client_id, provider_type, instance_name, config, external_id, phone_number,"
    " webhook_secret, is_active, is_default, healthy, last_error, created_at, updated_at"
)
UPDATABLE = frozenset({"instance_name", "config", "is_active", "is_default"})
# unique indexes of migration 0096: inbound routing finds one active instance per key
_ROUTE_INDEXES = {
    "client_providers_route_unique": "this phone number id is already connected (active instance)",
    "client_providers_phone_unique": "this phone number is already connected (active instance)",
}


async def _write(conn: Conn, sql: str, *args: Any) -> asyncpg.Record | None:
    """Run an INSERT/UPDATE of an instance; a taken route key becomes RouteTaken."""
    try:
        return await conn.fetchrow(sql, *args)
    except asyncpg.UniqueViolationError as exc:
        reason = _ROUTE_INDEXES.get(getattr(exc, "constraint_name", None) or "")
        if reason is None:
            raise
        raise RouteTaken(reason) from None


def digits(value: object) -> str | None:
    """Only the digits of a phone number, or None."""
    return "".join(ch for ch in str(value) if ch.isdigit()) or None


def route_keys(provider_type: str, config: dict[str, Any]) -> tuple[str | None, str | None]:
    """(external_id, phone_number) an inbound webhook is routed by, from a provider config."""
    if provider_type == "meta":
        phone = config.get("display_phone_number")
        return (
            str(config["phone_id"]) if config.get("phone_id") else None,
            digits(phone) if phone else None,
        )
    number = config.get("number") or config.get("phone_number")
    return (None, digits(number) if number else None)


def webhook_url(public_base_url: str, row: dict[str, Any]) -> str | None:
    """The URL an unsigned provider (Uazapi, LancePilot) must post to for this instance
    (served by lancepilot-ingest behind PUBLIC_BASE_URL); Meta has one app-wide URL."""
    if row["provider_type"] == "meta":
        return None
    return f"{public_base_url.rstrip('/')}/{row['provider_type']}/webhook/{row['webhook_secret']}"


def _decode(row: asyncpg.Record, box: SecretBox) -> dict[str, Any]:
    data = dict(row)
    data["config"] = box.open(data.get("config") or {})
    return data


async def create_provider(
    conn: Conn, box: SecretBox, tenant_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Insert an instance; when it is the default, other defaults of the same type are cleared."""
    config = dict(fields.get("config") or {})
    external_id, phone = route_keys(fields["provider_type"], config)
    row = await _write(
        conn,
        f"""INSERT INTO client_providers
              (client_id, provider_type, instance_name, config, external_id, phone_number,
               is_active, is_default)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",
        tenant_id,
        fields["provider_type"],
        fields.get("instance_name") or "Principal",
        box.seal(config),
        external_id,
        phone,
        fields.get("is_active", True),
        fields.get("is_default", False),
    )
    assert row is not None
    if row["is_default"]:
        await _clear_other_defaults(conn, tenant_id, row["provider_type"], str(row["id"]))
    return _decode(row, box)


async def _clear_other_defaults(
    conn: Conn, tenant_id: str, provider_type: str, keep_id: str
) -> None:
    await conn.execute(
        "UPDATE client_providers SET is_default = false, updated_at = now()"
        " WHERE client_id = $1 AND provider_type = $2 AND id <> $3 AND is_default",
        tenant_id,
        provider_type,
        keep_id,
    )


async def list_providers(conn: Conn, box: SecretBox, tenant_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM client_providers WHERE client_id = $1 ORDER BY created_at, id",
        tenant_id,
    )
    return [_decode(r, box) for r in rows]


async def get_provider(
    conn: Conn, box: SecretBox, tenant_id: str, provider_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM client_providers WHERE client_id = $1 AND id = $2",
        tenant_id,
        provider_id,
    )
    return _decode(row, box) if row else None


async def update_provider(
    conn: Conn, box: SecretBox, tenant_id: str, provider_id: str, fields: dict[str, Any]
) -> dict[str, Any] | None:
    current = await get_provider(conn, box, tenant_id, provider_id)
    if current is None:
        return None
    data = {k: v for k, v in fields.items() if k in UPDATABLE and v is not None}
    if "config" in data:
        given = keep_masked(data["config"], current["config"])
        merged = {**current["config"], **given}
        external_id, phone = route_keys(current["provider_type"], merged)
        data["config"] = box.seal(merged)
        data["external_id"] = external_id
        data["phone_number"] = phone
    if not data:
        return current
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(data, start=3))
    row = await _write(
        conn,
        f"UPDATE client_providers SET {sets}, updated_at = now()"
        f" WHERE client_id = $1 AND id = $2 RETURNING {_COLUMNS}",
        tenant_id,
        provider_id,
        *data.values(),
    )
    if row is None:
        return None
    if row["is_default"]:
        await _clear_other_defaults(conn, tenant_id, row["provider_type"], str(row["id"]))
    return _decode(row, box)


async def delete_provider(conn: Conn, tenant_id: str, provider_id: str) -> bool:
    status = await conn.execute(
        "DELETE FROM client_providers WHERE client_id = $1 AND id = $2", tenant_id, provider_id
    )
    return bool(status.endswith(" 1"))


async def mark_health(
    conn: Conn, tenant_id: str, provider_id: str, *, healthy: bool, error: str | None
) -> None:
    await conn.execute(
        "UPDATE client_providers SET healthy = $3, last_error = $4, updated_at = now()"
        " WHERE client_id = $1 AND id = $2",
        tenant_id,
        provider_id,
        healthy,
        error,
    )


async def find_meta_instance(
    conn: Conn, box: SecretBox, phone_number_id: str | None, display_phone_number: str | None
) -> dict[str, Any] | None:
    """The active Meta instance for a webhook's business number (phone id first, then display number).

    Routing is the one lookup not scoped by a tenant: it is how the tenant is found.
    """
    if phone_number_id:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM client_providers WHERE provider_type = 'meta'"
            " AND external_id = $1 AND is_active ORDER BY is_default DESC, created_at LIMIT 1",
            phone_number_id,
        )
        if row:
            return _decode(row, box)
    if display_phone_number:
        digits = "".join(ch for ch in display_phone_number if ch.isdigit())
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM client_providers WHERE provider_type = 'meta'"
            " AND phone_number = $1 AND is_active ORDER BY is_default DESC, created_at LIMIT 1",
            digits,
        )
        if row:
            return _decode(row, box)
    return None


async def find_by_webhook_secret(conn: Conn, box: SecretBox, secret: str) -> dict[str, Any] | None:
    """The instance whose webhook URL carries `secret` (Uazapi and LancePilot do not sign bodies)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM client_providers WHERE webhook_secret = $1", secret
    )
    return _decode(row, box) if row else None


async def load_credentials(
    conn: Conn, box: SecretBox, tenant_id: str, provider_type: str, instance_id: str | None = None
) -> ProviderCredentials:
    """Credentials for a tenant's provider: the given instance, else resolution with legacy fallback."""
    rows = await list_providers(conn, box, tenant_id)
    if instance_id:
        chosen = [r for r in rows if str(r["id"]) == instance_id and r["is_active"]]
        if chosen:
            row = chosen[0]
            return ProviderCredentials(provider_type, tenant_id, instance_id, dict(row["config"]))
    client = await conn.fetchrow(
        "SELECT id, api_url, token, whatsapp_provider, tools_config FROM clients WHERE id = $1",
        tenant_id,
    )
    if client is None:
        raise CredentialNotFound(f"tenant {tenant_id} does not exist")
    return resolve_credentials(provider_type, box.open(dict(client)), rows)
