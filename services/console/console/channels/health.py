"""The tenant's provider instances with their health, read from what is already stored.

Last inbound: the newest customer message routed to the instance. Last send: the newest
message the instance sent. Last error: the newest failed send (its error) or the error the
sender recorded on the instance (`client_providers.last_error`: a refused token), whichever
is newer. Each lookup is one backward index scan (migration 0210).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from wacommon.infra.crypto import SecretBox, mask
from wacommon.repositories import providers as providers_repo

_HEALTH = """
SELECT p.id,
       (SELECT m.created_at FROM chat_messages m
         WHERE m.provider_instance_id = p.id AND m.direction = 'in' AND m.client_id = $1
         ORDER BY m.created_at DESC LIMIT 1) AS last_inbound_at,
       (SELECT coalesce(m.sent_at, m.created_at) FROM chat_messages m
         WHERE m.provider_instance_id = p.id AND m.direction = 'out' AND m.client_id = $1
           AND m.sent_at IS NOT NULL
         ORDER BY m.created_at DESC LIMIT 1) AS last_send_at,
       f.failed_at, f.error
FROM client_providers p
LEFT JOIN LATERAL (
    SELECT m.failed_at, coalesce(nullif(m.error_detail, ''), m.error_code, 'falha no envio') AS error
    FROM chat_messages m
    WHERE m.provider_instance_id = p.id AND m.failed_at IS NOT NULL AND m.client_id = $1
    ORDER BY m.failed_at DESC LIMIT 1
) f ON true
WHERE p.client_id = $1
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _health(row: dict[str, Any], stats: asyncpg.Record | None) -> dict[str, Any]:
    last_in = stats["last_inbound_at"] if stats else None
    last_send = stats["last_send_at"] if stats else None
    failed_at = stats["failed_at"] if stats else None
    error, error_at = (stats["error"], failed_at) if stats and failed_at else (None, None)
    # the sender's mark on the instance (refused token) wins when it is newer
    if row.get("last_error") and (error_at is None or row["updated_at"] >= error_at):
        error, error_at = row["last_error"], row["updated_at"]
    if not row["is_active"]:
        state = "inactive"
    elif not row["healthy"]:
        state = "error"
    elif last_in is None and last_send is None:
        state = "idle"
    else:
        state = "ok"
    return {
        "state": state,
        "last_inbound_at": _iso(last_in),
        "last_send_at": _iso(last_send),
        "last_error": error,
        "last_error_at": _iso(error_at),
    }


async def list_channels(
    pool: asyncpg.Pool, box: SecretBox, tenant: UUID, public_base_url: str
) -> list[dict[str, Any]]:
    """Every instance of the tenant, oldest first, secrets masked, with its health."""
    rows = await providers_repo.list_providers(pool, box, str(tenant))
    stats = {r["id"]: r for r in await pool.fetch(_HEALTH, tenant)}
    return [
        {
            "id": str(row["id"]),
            "provider_type": row["provider_type"],
            "instance_name": row["instance_name"],
            "phone_number": row["phone_number"],
            "is_active": row["is_active"],
            "is_default": row["is_default"],
            "config": mask(row["config"]),
            "webhook_url": providers_repo.webhook_url(public_base_url, row),
            "health": _health(row, stats.get(row["id"])),
        }
        for row in rows
    ]
