"""lancepilot-ingest: Uazapi/LancePilot webhooks, the ingest consumer, the debounce buffer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.types import ASGIApp

from lancepilot_ingest.bursts import Burst
from lancepilot_ingest.debounce import Debouncer
from lancepilot_ingest.deps import IngestDeps
from lancepilot_ingest.handlers import HANDLERS, publish_burst
from lancepilot_ingest.settings import IngestSettings
from lancepilot_ingest.webhooks import MAX_BODY, webhooks_router
from wacommon.broker.dispatch import dispatcher
from wacommon.broker.topology import INGEST_QUEUE
from wacommon.infra.logging import configure_logging
from wacommon.service.http import run_main, serve, service_app
from wacommon.service.runtime import Runtime
from wacommon.tenants.directory import PgTenantDirectory

log = structlog.get_logger(__name__)


@asynccontextmanager
async def bootstrap(settings: IngestSettings, rt: Runtime) -> AsyncIterator[IngestDeps]:
    """The composition root: the handlers' dependencies on an opened runtime."""
    debouncer = Debouncer(rt.redis, settings, rt.pool)
    async with PgTenantDirectory(rt.pool, rt.secrets, dsn=settings.database_url) as tenants:
        yield IngestDeps(
            rt.pool,
            rt.publisher,
            rt.events,
            debouncer,
            rt.secrets,
            tenants=tenants,
            notifier=rt.notifier,
        )


def build_app(rt: Runtime) -> ASGIApp:
    """The service's HTTP app on an opened runtime: operations routes and the webhooks."""
    app = service_app(rt, "lancepilot-ingest")
    app.include_router(webhooks_router(rt.pool, rt.secrets, rt.publisher))
    return app


async def run(settings: IngestSettings) -> None:
    """Open the runtime, consume webhooks, flush bursts and serve the webhooks until stopped."""
    async with Runtime(settings) as rt, bootstrap(settings, rt) as deps:
        app = build_app(rt)
        consumer = rt.work_consumers(INGEST_QUEUE, dispatcher(HANDLERS, deps))
        await consumer.start()

        async def flush(burst: Burst) -> None:
            await publish_burst(burst, publisher=rt.publisher)

        async def debounce_loop(stop: asyncio.Event) -> None:
            await deps.debouncer.run(stop, flush)

        await serve(
            app,
            settings,
            on_stop=[consumer.stop],
            background=[debounce_loop],
            body_limits={r"/(uazapi|lancepilot)/webhook(/.*)?": MAX_BODY},
        )


def main() -> None:
    """`python -m lancepilot_ingest`."""
    settings = IngestSettings()
    configure_logging(settings)
    run_main(run(settings))
