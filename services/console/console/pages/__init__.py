"""The console's HTML pages (server-rendered, htmx fragments) and their static files."""

from __future__ import annotations

from fastapi import APIRouter

from console.pages.account import account_router
from console.pages.assets import assets_router
from console.pages.auth_pages import auth_pages_router
from console.pages.channels_meta import channels_meta_router
from console.pages.inbox import inbox_router
from console.pages.team import team_router
from console.pages.tenants import tenants_router


def pages_router() -> APIRouter:
    """Every page route: included by `console.app.build_app` with one line."""
    router = APIRouter()
    for sub in (
        assets_router(),
        auth_pages_router(),
        inbox_router(),
        team_router(),
        account_router(),
        tenants_router(),
        channels_meta_router(),
    ):
        router.include_router(sub)
    return router
