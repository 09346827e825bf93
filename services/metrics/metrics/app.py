"""The metrics service's HTTP app: operations routes, read API and dashboard."""

from __future__ import annotations

import asyncpg

from metrics.api import TenantDaily, TenantDailyFirst, api_router, tenant_daily_route
from metrics.auth import KeyResolver
from metrics.dashboard import dashboard_router
from metrics.settings import MetricsSettings
from wacommon.http import service_app
from wacommon.runtime import Runtime


def create_app(
    runtime: Runtime | None, pool: asyncpg.Pool, settings: MetricsSettings
) -> TenantDailyFirst:
    """Build the app around an open pool (tests may pass `runtime=None`)."""
    app = service_app(runtime, "metrics")
    resolver = KeyResolver(pool, settings.admin_token, settings.metrics_auth_cache_s)
    max_days = settings.metrics_max_range_days
    tenant_daily = TenantDaily(pool, resolver, max_days)
    app.router.routes.append(tenant_daily_route(tenant_daily))
    app.include_router(api_router(pool, resolver, max_days=max_days))
    app.include_router(dashboard_router())
    # the dashboard's hot read is answered before the FastAPI stack
    return TenantDailyFirst(app, tenant_daily)
