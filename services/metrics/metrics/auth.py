"""Who is calling the read API: the operator (ADMIN_TOKEN) or one tenant (its API key)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import asyncpg
from pydantic import SecretStr

_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the operator sees every tenant, a tenant only itself."""

    operator: bool
    tenant_id: str | None = None
    name: str | None = None

    def may_read(self, tenant_id: str) -> bool:
        """Whether this caller may read the tenant `tenant_id`."""
        return self.operator or self.tenant_id == tenant_id


class KeyResolver:
    """Maps a bearer token to a Principal; tenant keys are looked up by sha256 and cached."""

    def __init__(self, pool: asyncpg.Pool, admin_token: SecretStr | None, ttl_s: float) -> None:
        self._pool = pool
        self._admin = admin_token.get_secret_value().encode() if admin_token else None
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, authorization: str | None) -> Principal | None:
        """The caller behind an `Authorization: Bearer ...` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        raw = token.encode()
        if self._admin is not None and hmac.compare_digest(raw, self._admin):
            return Principal(operator=True)
        digest = hashlib.sha256(raw).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await self._lookup(digest)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal

    async def _lookup(self, digest: str) -> Principal | None:
        row = await self._pool.fetchrow(
            "SELECT id::text AS id, name FROM clients WHERE api_key_hash = $1", digest
        )
        if row is None:
            return None
        return Principal(operator=False, tenant_id=row["id"], name=row["name"])
