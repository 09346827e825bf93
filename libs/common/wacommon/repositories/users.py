"""All SQL about console accounts (`console_users`); tenant accounts are always read by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from wacommon.infra.dbtypes import Executor as Conn

COLUMNS = (
    "id, client_id, email, name, role, is_active, alert_whatsapp, notify_sound, locale,"
    " created_at, updated_at, last_login_at"
)
UPDATABLE = frozenset(
    {"name", "role", "is_active", "alert_whatsapp", "notify_sound", "locale", "password_hash"}
)


class EmailTaken(Exception):
    """Another account already signs in with this email (case-insensitive)."""


async def create_user(
    conn: Conn,
    *,
    tenant_id: str | None,
    email: str,
    name: str,
    role: str,
    password_hash: str,
) -> dict[str, Any]:
    """Insert an account; EmailTaken when the address is used by any account."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO console_users (client_id, email, name, role, password_hash)"
            f" VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",
            tenant_id,
            email,
            name,
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email) from None
    assert row is not None
    return dict(row)


async def credentials_by_email(conn: Conn, email: str) -> dict[str, Any] | None:
    """The account with its password hash, for sign-in only."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, password_hash FROM console_users WHERE lower(email) = lower($1)",
        email,
    )
    return dict(row) if row else None


async def password_hash(conn: Conn, user_id: str) -> str | None:
    value = await conn.fetchval("SELECT password_hash FROM console_users WHERE id = $1", user_id)
    return str(value) if value is not None else None


async def get_user(conn: Conn, user_id: str, tenant_id: str | None = None) -> dict[str, Any] | None:
    """An account by id; with `tenant_id`, only if it belongs to that tenant."""
    if tenant_id is None:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM console_users WHERE id = $1", user_id)
    else:
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM console_users WHERE id = $1 AND client_id = $2",
            user_id,
            tenant_id,
        )
    return dict(row) if row else None


async def list_users(conn: Conn, tenant_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM console_users WHERE client_id = $1 ORDER BY lower(name), id",
        tenant_id,
    )
    return [dict(r) for r in rows]


async def update_user(
    conn: Conn, user_id: str, fields: dict[str, Any], tenant_id: str | None = None
) -> dict[str, Any] | None:
    """Change some fields (unknown keys ignored); None when no such account (in that tenant)."""
    data = {k: v for k, v in fields.items() if k in UPDATABLE}
    if not data:
        return await get_user(conn, user_id, tenant_id)
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(data, start=3))
    row = await conn.fetchrow(
        f"UPDATE console_users SET {sets}, updated_at = now()"
        " WHERE id = $1 AND ($2::uuid IS NULL OR client_id = $2)"
        f" RETURNING {COLUMNS}",
        user_id,
        tenant_id,
        *data.values(),
    )
    return dict(row) if row else None


async def record_login(conn: Conn, user_id: str, new_hash: str | None = None) -> datetime | None:
    """Stamp the sign-in (and store a re-hashed password when the parameters changed);
    returns the stamp."""
    stamp: datetime | None = await conn.fetchval(
        "UPDATE console_users SET last_login_at = now(),"
        " password_hash = coalesce($2, password_hash) WHERE id = $1 RETURNING last_login_at",
        user_id,
        new_hash,
    )
    return stamp


async def count_active_owners(conn: Conn, tenant_id: str) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM console_users WHERE client_id = $1 AND role = 'owner' AND is_active",
        tenant_id,
    )
    return int(value or 0)
