"""What every route of a tenant's Meta account shares: the Graph admin client, the tenant's
Meta instance and its credentials, and Graph failures as HTTP errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import structlog
from fastapi import HTTPException, status

from meta_gateway.admin.auth import parse_id, tenant_or_404
from meta_gateway.admin.meta_account_models import GRAPH_ID
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.providers.meta.admin import GraphCallFailed, MetaAdminClient, failure_status
from wacommon.repositories import providers as providers_repo
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

GRAPH_ID_KEYS = frozenset({"phone_id", "waba_id"})
HEADER_SAFE = r"[!-~]+"


def graph_failure(exc: GraphCallFailed) -> HTTPException:
    """The Graph step, code and message (which never carry a token), with a status saying
    whose problem it is (`failure_status`)."""
    code = failure_status(exc)
    detail = {
        "error": "meta_graph_error",
        "step": exc.step,
        "code": exc.code,
        "message": exc.message,
        "retryable": exc.retryable,
    }
    return HTTPException(code, detail)


class MetaAccount:
    """The dependencies of the meta-account routes and the lookups they all make."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        box: SecretBox,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings, self.pool, self.box, self.http = settings, pool, box, http
        secret = settings.meta_app_secret
        self.app_secret = secret.get_secret_value() if secret else None

    @asynccontextmanager
    async def graph(self) -> AsyncIterator[MetaAdminClient]:
        """A Graph admin client on the shared HTTP client, or on one of its own."""

        def client(h: httpx.AsyncClient) -> MetaAdminClient:
            return MetaAdminClient(
                h,
                base_url=self.settings.meta_graph_url,
                version=self.settings.meta_graph_version,
                app_id=self.settings.meta_app_id,
                app_secret=self.app_secret,
            )

        if self.http is not None:
            yield client(self.http)
            return
        async with httpx.AsyncClient(timeout=15.0) as own:
            yield client(own)

    async def tenant(self, tenant_id: str) -> str:
        """The tenant's id, or 404."""
        return await tenant_or_404(self.pool, tenant_id)

    async def meta_instance(self, cid: str, provider_id: str | None) -> dict[str, Any]:
        """The named Meta instance, else the tenant's default active one, else 404."""
        if provider_id:
            row = await providers_repo.get_provider(
                self.pool, self.box, cid, parse_id(provider_id, "provider")
            )
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
            if row["provider_type"] != "meta":
                raise invalid(("query", "provider_id"), "not a meta provider instance")
            return row
        rows = [
            r
            for r in await providers_repo.list_providers(self.pool, self.box, cid)
            if r["provider_type"] == "meta" and r["is_active"]
        ]
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client has no active meta provider")
        return sorted(rows, key=lambda r: not r["is_default"])[0]

    @staticmethod
    def credential(row: dict[str, Any], key: str) -> str:
        """One credential of the instance, checked for where it goes; 409 when unusable."""
        value = row["config"].get(key)
        if not value:
            raise HTTPException(status.HTTP_409_CONFLICT, f"meta provider has no {key}")
        # a Graph id becomes a URL path segment, the token a header (rows written before
        # the admin API checked them may hold anything)
        pattern = GRAPH_ID if key in GRAPH_ID_KEYS else HEADER_SAFE
        if not re.fullmatch(pattern, str(value)):
            raise HTTPException(status.HTTP_409_CONFLICT, f"meta provider has an invalid {key}")
        return str(value)

    async def failed(self, cid: str, row: dict[str, Any], exc: GraphCallFailed) -> HTTPException:
        """The HTTP error of a failed call; dead credentials mark the instance unhealthy."""
        log.warning("meta_graph_call_failed", tenant_id=cid, step=exc.step, code=exc.code)
        if exc.credentials_invalid:
            await providers_repo.mark_health(
                self.pool, cid, str(row["id"]), healthy=False, error=exc.message[:500]
            )
        return graph_failure(exc)
