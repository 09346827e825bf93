"""`/admin/clients/{id}/meta/templates`: the WABA's message templates, listed and submitted."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Query

from meta_gateway.admin.meta_account_access import MetaAccount
from meta_gateway.admin.meta_account_models import TemplateCreated, TemplateIn
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.web.api_types import TenantPath

log = structlog.get_logger(__name__)


class TemplateRoutes:
    """The template routes, bound to the account's dependencies."""

    def __init__(self, account: MetaAccount) -> None:
        self.account = account

    async def list_templates(
        self,
        tenant_id: TenantPath,
        provider_id: str | None = None,
        template_status: str | None = Query(None, alias="status", pattern=r"^[A-Z_]{1,32}$"),
    ) -> list[dict[str, Any]]:
        """The WABA's message templates (optionally one status: APPROVED, PENDING, ...)."""
        account = self.account
        cid = await account.tenant(tenant_id)
        row = await account.meta_instance(cid, provider_id)
        waba, token = account.credential(row, "waba_id"), account.credential(row, "access_token")
        try:
            async with account.graph() as meta:
                return await meta.list_templates(waba, token, template_status)
        except GraphCallFailed as exc:
            raise await account.failed(cid, row, exc) from None

    async def create_template(
        self, tenant_id: TenantPath, body: TemplateIn, provider_id: str | None = None
    ) -> TemplateCreated:
        """Submit a template for Meta's review; it starts PENDING."""
        account = self.account
        cid = await account.tenant(tenant_id)
        row = await account.meta_instance(cid, provider_id)
        waba, token = account.credential(row, "waba_id"), account.credential(row, "access_token")
        try:
            async with account.graph() as meta:
                answer = await meta.create_template(waba, token, body.model_dump(exclude_none=True))
        except GraphCallFailed as exc:
            raise await account.failed(cid, row, exc) from None
        log.info("meta_template_created", tenant_id=cid, template=body.name, id=answer.get("id"))
        return TemplateCreated(
            id=str(answer.get("id") or ""),
            status=answer.get("status"),
            category=answer.get("category"),
        )
