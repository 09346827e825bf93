"""The operator's list of tenants: name, WhatsApp numbers, conversations waiting for people.

Keyset-paginated on (lower(name), id) so a page is one index-friendly range whatever the
offset, and the cursor survives tenants being added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from uuid import UUID

import asyncpg
import orjson

MAX_LIMIT = 100

_LIST = """
SELECT c.id, c.name, lower(c.name) AS sort_name,
       COALESCE((
         SELECT array_agg(COALESCE(p.phone_number, p.config->>'display_phone_number',
                                   p.instance_name)
                          ORDER BY p.is_default DESC, p.created_at)
           FROM client_providers p
          WHERE p.client_id = c.id AND p.is_active
       ), '{}') AS numbers,
       (SELECT count(*) FROM active_conversations a
         WHERE a.client_id = c.id AND a.state = 'human') AS open_human
  FROM clients c
 WHERE ($1::text IS NULL
        OR c.name ILIKE $1 ESCAPE '\\'
        OR ($2::text IS NOT NULL AND EXISTS (
              SELECT 1 FROM client_providers p
               WHERE p.client_id = c.id AND p.is_active
                 AND regexp_replace(COALESCE(p.phone_number, p.config->>'display_phone_number', ''),
                                    '\\D', '', 'g') LIKE $2)))
   AND ($3::text IS NULL OR (lower(c.name), c.id) > ($3, $4::uuid))
 ORDER BY lower(c.name), c.id
 LIMIT $5
"""


class BadCursor(ValueError):
    """A cursor this list did not hand out."""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def encode_cursor(sort_name: str, tenant_id: UUID) -> str:
    raw = orjson.dumps([sort_name, str(tenant_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, tenant = orjson.loads(raw)
        return str(name), UUID(str(tenant))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadCursor(cursor) from exc


_PHONE_LIKE = re.compile(r"[\d\s+().-]+")


async def list_tenants(
    pool: asyncpg.Pool, *, q: str = "", cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of tenants matching `q` (name, or digits of a number) and the next cursor."""
    q = q.strip()
    # a number only when the query looks like one: the digits of "Loja 24h" are no phone
    digits = "".join(ch for ch in q if ch.isdigit()) if _PHONE_LIKE.fullmatch(q) else ""
    after_name, after_id = decode_cursor(cursor) if cursor else (None, None)
    rows = await pool.fetch(
        _LIST,
        _like(q) if q else None,
        f"%{digits}%" if len(digits) >= 3 else None,
        after_name,
        after_id,
        limit + 1,
    )
    page = [
        {
            "id": str(r["id"]),
            "name": r["name"],
            "numbers": [n for n in r["numbers"] if n],
            "open_human": int(r["open_human"]),
        }
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["sort_name"], last["id"])
    return page, next_cursor


async def tenant_name(pool: asyncpg.Pool, tenant_id: UUID) -> str | None:
    """The tenant's name, or None when there is no such tenant."""
    name: str | None = await pool.fetchval("SELECT name FROM clients WHERE id = $1", tenant_id)
    return name
