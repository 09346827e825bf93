"""lancepilot-ingest: Uazapi/LancePilot webhooks, the ingest consumer, the debounce buffer."""

from __future__ import annotations

import asyncio

import structlog
from starlette.types import ASGIApp

from lancepilot_ingest.bursts import Burst
from lancepilot_ingest.debounce import Debouncer
from lancepilot_ingest.handlers import IngestDeps, handler_for, publish_burst
from lancepilot_ingest.webhooks import MAX_BODY, webhooks_router
from wacommon.broker.topology import INGEST_QUEUE
from wacommon.http import run_main, serve, service_app
from wacommon.logging import configure_logging
from wacommon.runtime import Runtime
from wacommon.settings import Settings
from wacommon.tenants import PgTenantDirectory

log = structlog.get_logger(__name__)


def build_app(rt: Runtime) -> ASGIApp:
    """The service's HTTP app on an opened runtime: operations routes and the webhooks."""
    app = service_app(rt, "lancepilot-ingest")
    app.include_router(webhooks_router(rt.pool, rt.secrets, rt.publisher))
    return app


async def run(settings: Settings) -> None:
    async with Runtime(settings) as rt:
        debouncer = Debouncer(rt.redis, settings, rt.pool)
        tenants = PgTenantDirectory(rt.pool, rt.secrets, dsn=settings.database_url)
        await tenants.start()
        deps = IngestDeps(
            rt.pool,
            rt.publisher,
            rt.events,
            debouncer,
            rt.secrets,
            tenants=tenants,
            notifier=rt.notifier,
        )
        app = build_app(rt)
        consumer = rt.work_consumers(INGEST_QUEUE, handler_for(deps))
        await consumer.start()

        async def flush(burst: Burst) -> None:
            await publish_burst(burst, publisher=rt.publisher)

        async def debounce_loop(stop: asyncio.Event) -> None:
            await debouncer.run(stop, flush)

        await serve(
            app,
            settings,
            on_stop=[consumer.stop, tenants.close],
            background=[debounce_loop],
            body_limits={r"/(uazapi|lancepilot)/webhook(/.*)?": MAX_BODY},
        )


def main() -> None:
    settings = Settings(service_name="lancepilot-ingest")
    configure_logging(settings)
    run_main(run(settings))
