"""The console's HTTP app: operations routes, the JSON API under /api/ and the pages."""

from __future__ import annotations

from fastapi import FastAPI

from console.account_api import account_router
from console.auth.routes import auth_router
from console.bot_settings.routes import settings_router
from console.channels.api import channels_api_router
from console.channels.meta import meta_channels_router
from console.deps import ConsoleDeps
from console.errors import install_outage_handlers
from console.inbox.routes import inbox_router
from console.knowledge.api import knowledge_router
from console.metrics_api import metrics_router
from console.operator_api import operator_router
from console.pages import pages_router
from console.stream.routes import stream_router
from console.users_api import users_router
from wacommon.service.http import service_app


def build_app(deps: ConsoleDeps) -> FastAPI:
    """The app around opened dependencies (tests build `deps` without a broker)."""
    app = service_app(deps.runtime, "console")
    app.state.deps = deps
    install_outage_handlers(app)
    # the inbox first: routes are matched in order, and its reads are the busiest requests
    # (no other router's paths overlap it)
    app.include_router(inbox_router())
    app.include_router(auth_router())
    app.include_router(users_router())
    app.include_router(settings_router())
    app.include_router(account_router())
    app.include_router(knowledge_router())
    app.include_router(operator_router())
    app.include_router(channels_api_router())
    app.include_router(metrics_router())
    app.include_router(stream_router())
    app.include_router(meta_channels_router())
    app.include_router(pages_router())
    return app
