"""The console's HTML pages (server-rendered, htmx fragments) and their static files."""

from __future__ import annotations

from fastapi import APIRouter

from console.knowledge.page import knowledge_page_router
from console.pages.account import account_router
from console.pages.assets import assets_router
from console.pages.auth_pages import auth_pages_router
from console.pages.channels import channels_router
from console.pages.channels_meta import channels_meta_router
from console.pages.inbox import inbox_router
from console.pages.metrics import metrics_router
from console.pages.settings import settings_pages_router
from console.pages.team import team_router
from console.pages.tenants import tenants_router
from console.replay_lab.routes import replay_lab_router
from console.sandbox.routes import sandbox_router


def pages_router() -> APIRouter:
    """Every page route: included by `console.app.build_app` with one line."""
    router = APIRouter()
    for sub in (
        assets_router(),
        auth_pages_router(),
        inbox_router(),
        team_router(),
        knowledge_page_router(),
        account_router(),
        tenants_router(),
        settings_pages_router(),
        channels_router(),
        sandbox_router(),
        replay_lab_router(),
        metrics_router(),
        channels_meta_router(),
    ):
        router.include_router(sub)
    return router
