"""All SQL about tenants (`clients`)."""

from __future__ import annotations

import hashlib
from typing import Any

from wacommon.infra.crypto import PREFIX, SecretBox
from wacommon.infra.dbtypes import Executor as Conn

COLUMNS = (
    "id, name, system_prompt, bot_active, timezone, tools_config, followup_config,"
    " human_attendant_timeout, token, api_url, whatsapp_provider, created_at, updated_at"
)
UPDATABLE = frozenset(
    {
        "name",
        "system_prompt",
        "bot_active",
        "timezone",
        "tools_config",
        "followup_config",
        "human_attendant_timeout",
        "token",
        "api_url",
        "whatsapp_provider",
    }
)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# the legacy token doubles as a webhook URL secret: looked up by this digest, never by value
token_digest = hash_api_key


def _legacy_token(data: dict[str, Any], box: SecretBox | None) -> None:
    """Set `token_hash` from a plaintext `token` and seal the token itself (in place)."""
    if "token" not in data:
        return
    token = data["token"]
    if not token:
        data["token_hash"] = None
        return
    if not str(token).startswith(PREFIX):
        data["token_hash"] = token_digest(str(token))
        if box is not None:
            data["token"] = box.encrypt(str(token))


async def create_client(
    conn: Conn, fields: dict[str, Any], box: SecretBox | None = None
) -> dict[str, Any]:
    """Insert a tenant; unknown keys are ignored; a legacy token is hashed and sealed."""
    data = {k: v for k, v in fields.items() if k in UPDATABLE and v is not None}
    _legacy_token(data, box)
    if fields.get("api_key"):
        data["api_key_hash"] = hash_api_key(fields["api_key"])
    cols = ", ".join(data)
    params = ", ".join(f"${i}" for i in range(1, len(data) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO clients ({cols}) VALUES ({params}) RETURNING {COLUMNS}"
        if data
        else f"INSERT INTO clients DEFAULT VALUES RETURNING {COLUMNS}",
        *data.values(),
    )
    assert row is not None
    return dict(row)


async def get_client(conn: Conn, tenant_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE id = $1", tenant_id)
    return dict(row) if row else None


async def list_clients(conn: Conn, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM clients ORDER BY created_at, id LIMIT $1 OFFSET $2", limit, offset
    )
    return [dict(r) for r in rows]


async def update_client(
    conn: Conn, tenant_id: str, fields: dict[str, Any], box: SecretBox | None = None
) -> dict[str, Any] | None:
    data = {k: v for k, v in fields.items() if k in UPDATABLE}
    _legacy_token(data, box)
    if fields.get("api_key"):
        data["api_key_hash"] = hash_api_key(fields["api_key"])
    if not data:
        return await get_client(conn, tenant_id)
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(data, start=2))
    row = await conn.fetchrow(
        f"UPDATE clients SET {sets}, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        tenant_id,
        *data.values(),
    )
    return dict(row) if row else None


async def delete_client(conn: Conn, tenant_id: str) -> bool:
    status = await conn.execute("DELETE FROM clients WHERE id = $1", tenant_id)
    return bool(status.endswith(" 1"))
