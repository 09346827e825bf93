"""Admin routes for a tenant's Meta account: Embedded Signup, message templates, business profile."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from fastapi import APIRouter, Depends, status

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin
from meta_gateway.admin.meta_account_access import MetaAccount
from meta_gateway.admin.meta_account_models import BusinessProfile, SignupOut, TemplateCreated
from meta_gateway.admin.meta_profile import ProfileRoutes
from meta_gateway.admin.meta_signup import SignupRoutes
from meta_gateway.admin.meta_templates import TemplateRoutes
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.web.http_errors import error_responses

GRAPH_RESPONSES = error_responses(
    {
        400: "Graph refused the call (detail: step, code, message)",
        409: "the instance's credentials no longer work, or it lacks waba_id / access_token",
        502: "Graph failed, throttled or could not be reached (detail: step, code, message)",
    }
)


def meta_account_router(
    settings: Settings, pool: asyncpg.Pool, box: SecretBox, *, http: httpx.AsyncClient | None = None
) -> APIRouter:
    """`/admin/clients/{id}/meta/...`: embedded-signup, templates, business-profile."""
    router = APIRouter(
        prefix="/admin/clients/{client_id}/meta",
        tags=["meta account"],
        dependencies=[Depends(require_admin(settings))],
        responses={**ADMIN_RESPONSES, **GRAPH_RESPONSES},
    )
    account = MetaAccount(settings, pool, box, http)
    signup, templates, profile = (
        SignupRoutes(account),
        TemplateRoutes(account),
        ProfileRoutes(account),
    )
    router.add_api_route(
        "/embedded-signup",
        signup.embedded_signup,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=SignupOut,
        responses=error_responses({503: "META_APP_ID / META_APP_SECRET are not configured"}),
    )
    router.add_api_route(
        "/templates",
        templates.list_templates,
        methods=["GET"],
        response_model=list[dict[str, Any]],
    )
    router.add_api_route(
        "/templates",
        templates.create_template,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=TemplateCreated,
    )
    router.add_api_route(
        "/business-profile",
        profile.get_business_profile,
        methods=["GET"],
        response_model=BusinessProfile,
    )
    router.add_api_route(
        "/business-profile",
        profile.update_business_profile,
        methods=["PATCH"],
        response_model=BusinessProfile,
    )
    return router
