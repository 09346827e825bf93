"""The metrics service's HTTP app: operations routes, read API and dashboard."""

from __future__ import annotations

from metrics.api import TenantDaily, TenantDailyFirst, api_router, tenant_daily_route
from metrics.dashboard import dashboard_router
from metrics.deps import MetricsDeps
from wacommon.service.http import service_app


def metrics_app(deps: MetricsDeps) -> TenantDailyFirst:
    """The app around opened dependencies (tests build `deps` without a runtime)."""
    app = service_app(deps.runtime, "metrics")
    pool, resolver = deps.pool, deps.resolver
    max_days = deps.settings.metrics_max_range_days
    tenant_daily = TenantDaily(pool, resolver, max_days)
    app.router.routes.append(tenant_daily_route(tenant_daily))
    app.include_router(api_router(pool, resolver, max_days=max_days))
    app.include_router(dashboard_router())
    # the dashboard's hot read is answered before the FastAPI stack
    return TenantDailyFirst(app, tenant_daily)
