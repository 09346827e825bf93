"""Wiring only: settings, logging, runtime, app and the aggregation loop."""

from __future__ import annotations

import argparse
import asyncio
import functools
from datetime import date

import asyncpg

from metrics.aggregate import recompute
from metrics.api import TenantDailyFirst
from metrics.app import metrics_app
from metrics.auth import KeyResolver
from metrics.deps import MetricsDeps
from metrics.loop import aggregation_loop
from metrics.settings import MetricsSettings
from wacommon.infra.logging import configure_logging
from wacommon.service.http import run_main, serve
from wacommon.service.runtime import Runtime


def bootstrap(
    settings: MetricsSettings, pool: asyncpg.Pool, *, runtime: Runtime | None = None
) -> MetricsDeps:
    """The composition root: what the routes talk to, on an open pool."""
    resolver = KeyResolver(pool, settings.admin_token, settings.metrics_auth_cache_s)
    return MetricsDeps(settings, pool, resolver, runtime)


def build_app(runtime: Runtime) -> TenantDailyFirst:
    """The service's HTTP app on an opened runtime (its settings are `MetricsSettings`)."""
    assert isinstance(runtime.settings, MetricsSettings)
    return metrics_app(bootstrap(runtime.settings, runtime.pool, runtime=runtime))


async def run(settings: MetricsSettings) -> None:
    """Serve the API and dashboard and aggregate in the background until SIGTERM."""
    async with Runtime(settings, broker=False) as runtime:
        app = build_app(runtime)
        loop = functools.partial(aggregation_loop, pool=runtime.pool, settings=settings)
        await serve(app, settings, background=[loop])


async def rebuild(
    settings: MetricsSettings, start: date | None, end: date | None, tenant_id: str | None
) -> None:
    """Recompute `metrics_daily` from the event log for a range (or everything)."""
    async with Runtime(settings, broker=False) as runtime:
        result = await recompute(
            runtime.pool, settings.price_map(), start=start, end=end, tenant_id=tenant_id
        )
        print(f"recomputed: {result.events} events, {result.rows} tenant-days")


def main(argv: list[str] | None = None) -> None:
    """`python -m metrics` serves; `python -m metrics recompute --from D --to D` rebuilds."""
    parser = argparse.ArgumentParser(prog="metrics", description=main.__doc__)
    sub = parser.add_subparsers(dest="command")
    rec = sub.add_parser("recompute", help="rebuild metrics_daily from conversation_events")
    rec.add_argument("--from", dest="start", type=date.fromisoformat)
    rec.add_argument("--to", dest="end", type=date.fromisoformat)
    rec.add_argument("--client", dest="tenant_id")
    args = parser.parse_args(argv)
    settings = MetricsSettings()
    configure_logging(settings)
    if args.command == "recompute":
        asyncio.run(rebuild(settings, args.start, args.end, args.tenant_id))
    else:
        run_main(run(settings))
