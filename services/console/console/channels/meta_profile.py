"""`/api/channels/meta/numbers/{id}/profile`: the number's WhatsApp business profile."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Depends, Request

from console.auth.deps import Scoped, scoped
from console.channels.meta_graph import (
    admin_client,
    credential,
    graph_failed,
    tenant_number,
)
from console.channels.meta_models import (
    ProfileIn,
)
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

PROFILE_FIELDS = ("about", "address", "description", "email", "websites", "vertical")


async def get_profile(
    provider_id: str, request: Request, s: Scoped = Depends(scoped)
) -> dict[str, Any]:
    """The number's business profile as WhatsApp users see it."""
    row = await tenant_number(s.deps, s.tenant, provider_id)
    phone, token = credential(row, "phone_id"), credential(row, "access_token")
    try:
        profile = await admin_client(request).get_business_profile(phone, token)
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    return {k: profile.get(k) for k in (*PROFILE_FIELDS, "profile_picture_url")}


async def update_profile(
    provider_id: str, body: ProfileIn, request: Request, s: Scoped = Depends(scoped)
) -> dict[str, Any]:
    """Change the filled fields; answers the profile as Graph now holds it."""
    fields = body.graph_fields()
    if not fields:
        raise invalid(("body",), "preencha pelo menos um campo do perfil")
    row = await tenant_number(s.deps, s.tenant, provider_id)
    phone, token = credential(row, "phone_id"), credential(row, "access_token")
    meta = admin_client(request)
    try:
        await meta.update_business_profile(phone, token, fields)
        profile = await meta.get_business_profile(phone, token)
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    log.info("console_meta_profile_updated", tenant_id=str(s.tenant), fields=sorted(fields))
    return {k: profile.get(k) for k in (*PROFILE_FIELDS, "profile_picture_url")}
