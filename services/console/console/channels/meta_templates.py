"""`/api/channels/meta/numbers/{id}/templates`: the WABA's message templates, listed with
their review status, submitted and deleted."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from console.auth.deps import Scoped, scoped
from console.channels.meta_graph import (
    admin_client,
    credential,
    graph_failed,
    tenant_number,
)
from console.channels.meta_models import (
    TEMPLATE_NAME,
    TemplateIn,
)
from wacommon.providers.meta.admin import GraphCallFailed

log = structlog.get_logger(__name__)


async def list_templates(
    provider_id: str, request: Request, s: Scoped = Depends(scoped)
) -> list[dict[str, Any]]:
    """The WABA's templates with their review status (APPROVED, PENDING, REJECTED...)."""
    row = await tenant_number(s.deps, s.tenant, provider_id)
    waba, token = credential(row, "waba_id"), credential(row, "access_token")
    try:
        found = await admin_client(request).list_templates(waba, token)
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    return [_template_view(t) for t in found]


async def create_template(
    provider_id: str, body: TemplateIn, request: Request, s: Scoped = Depends(scoped)
) -> dict[str, Any]:
    """Submit a text template for Meta's review; it starts PENDING."""
    row = await tenant_number(s.deps, s.tenant, provider_id)
    waba, token = credential(row, "waba_id"), credential(row, "access_token")
    try:
        answer = await admin_client(request).create_template(waba, token, body.graph_body())
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    log.info("console_meta_template_created", tenant_id=str(s.tenant), template=body.name)
    return {
        "id": str(answer.get("id") or ""),
        "name": body.name,
        "language": body.language,
        "category": answer.get("category") or body.category,
        "status": answer.get("status") or "PENDING",
    }


async def delete_template(
    provider_id: str, name: str, request: Request, s: Scoped = Depends(scoped)
) -> Response:
    """Delete the template `name` in every language."""
    if not TEMPLATE_NAME.fullmatch(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "modelo não encontrado")
    row = await tenant_number(s.deps, s.tenant, provider_id)
    waba, token = credential(row, "waba_id"), credential(row, "access_token")
    try:
        await admin_client(request).delete_template(waba, token, name)
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    log.info("console_meta_template_deleted", tenant_id=str(s.tenant), template=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _template_view(t: dict[str, Any]) -> dict[str, Any]:
    parts = {
        str(c.get("type", "")).upper(): c for c in t.get("components") or [] if isinstance(c, dict)
    }
    return {
        "id": t.get("id"),
        "name": t.get("name"),
        "language": t.get("language"),
        "category": t.get("category"),
        "status": t.get("status"),
        "rejected_reason": t.get("rejected_reason"),
        "header": (parts.get("HEADER") or {}).get("text"),
        "body": (parts.get("BODY") or {}).get("text"),
        "footer": (parts.get("FOOTER") or {}).get("text"),
    }
