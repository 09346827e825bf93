"""`/admin/clients/{id}/meta/business-profile`: the number's WhatsApp business profile."""

from __future__ import annotations

from typing import Any

import structlog

from meta_gateway.admin.meta_account_access import MetaAccount
from meta_gateway.admin.meta_account_models import BusinessProfile, BusinessProfilePatch
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.web.api_types import TenantPath

log = structlog.get_logger(__name__)


class ProfileRoutes:
    """The business-profile routes, bound to the account's dependencies."""

    def __init__(self, account: MetaAccount) -> None:
        self.account = account

    async def get_business_profile(
        self, tenant_id: TenantPath, provider_id: str | None = None
    ) -> BusinessProfile:
        """The number's business profile as WhatsApp users see it."""
        account = self.account
        cid = await account.tenant(tenant_id)
        row = await account.meta_instance(cid, provider_id)
        phone, token = account.credential(row, "phone_id"), account.credential(row, "access_token")
        try:
            async with account.graph() as meta:
                profile = await meta.get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await account.failed(cid, row, exc) from None
        return _profile(profile)

    async def update_business_profile(
        self, tenant_id: TenantPath, body: BusinessProfilePatch, provider_id: str | None = None
    ) -> BusinessProfile:
        """Change some profile fields; answers the profile as Graph now holds it."""
        account = self.account
        fields = body.model_dump(exclude_none=True)
        cid = await account.tenant(tenant_id)
        row = await account.meta_instance(cid, provider_id)
        phone, token = account.credential(row, "phone_id"), account.credential(row, "access_token")
        try:
            async with account.graph() as meta:
                await meta.update_business_profile(phone, token, fields)
                profile = await meta.get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await account.failed(cid, row, exc) from None
        log.info("meta_business_profile_updated", tenant_id=cid, fields=sorted(fields))
        return _profile(profile)


def _profile(profile: dict[str, Any]) -> BusinessProfile:
    return BusinessProfile.model_validate(
        {k: v for k, v in profile.items() if k in BusinessProfile.model_fields}
    )
