"""sender: provider clients, rate limits, retries, delivery state. Wiring only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI

from sender.clients.pool import ShardedTransport
from sender.clients.sandbox import SandboxClient
from sender.deps import SenderDeps, check_send_timing
from sender.handlers import HANDLERS
from sender.ratelimit import RateLimiter, UazapiPacer
from sender.receipts import RedisReceipts
from sender.relay import relay_loop
from sender.settings import SenderSettings
from wacommon.broker.dispatch import dispatcher
from wacommon.broker.topology import SEND_QUEUE
from wacommon.infra.logging import configure_logging
from wacommon.providers.lancepilot.outbound import LancePilotClient
from wacommon.providers.meta.outbound import MetaGraphClient
from wacommon.providers.outbound import ProviderClient
from wacommon.providers.uazapi.outbound import UazapiClient
from wacommon.service.http import run_main, serve, service_app
from wacommon.service.runtime import Runtime
from wacommon.tenants.directory import PgTenantDirectory

log = structlog.get_logger(__name__)

# Idle connections are dropped before a server with the common 5 s idle timeout (uvicorn,
# many proxies) closes them: at equal timeouts a request can leave on a connection the
# server is closing, and the reset is ambiguous (the send may have happened), so the row
# waits `send_reconcile_s` before anything retries it (seen in bench/e2e.py at 200/s).
KEEPALIVE_EXPIRY_S = 4.0


@asynccontextmanager
async def bootstrap(settings: SenderSettings, rt: Runtime) -> AsyncIterator[SenderDeps]:
    """The composition root: the handlers' dependencies on an opened runtime."""
    async with (
        httpx.AsyncClient(
            timeout=httpx.Timeout(settings.send_http_timeout_s, connect=5.0),
            transport=ShardedTransport(
                httpx.Limits(
                    max_connections=200,
                    max_keepalive_connections=50,
                    keepalive_expiry=KEEPALIVE_EXPIRY_S,
                ),
                shards=8,
            ),
        ) as http,
        PgTenantDirectory(rt.pool, rt.secrets, dsn=settings.database_url) as tenants,
    ):
        clients: dict[str, ProviderClient] = {
            "meta": MetaGraphClient(
                http, base_url=settings.meta_graph_url, version=settings.meta_graph_version
            ),
            "uazapi": UazapiClient(http),
            "lancepilot": LancePilotClient(http, default_base_url=settings.lancepilot_url),
            "sandbox": SandboxClient(),
        }
        yield SenderDeps(
            rt.pool,
            rt.secrets,
            clients,
            RateLimiter(rt.redis, settings),
            reconcile_s=settings.send_reconcile_s,
            http_timeout_s=settings.send_http_timeout_s,
            record_for_s=settings.send_record_timeout_s,
            pacer=UazapiPacer(rt.redis, settings),
            notifier=rt.notifier,
            receipts=RedisReceipts(rt.redis, settings.rkey("sender", "receipt", "")),
            publisher=rt.publisher,
            tenants=tenants,
        )


def build_app(rt: Runtime) -> FastAPI:
    """The service's HTTP app (operations routes only: its work comes from the broker)."""
    return service_app(rt, "sender")


async def run(settings: SenderSettings) -> None:
    """Open the runtime, consume send commands, relay and serve health until stopped."""
    # refuse, before connecting anything, a takeover window a live send could be inside
    check_send_timing(
        settings.send_reconcile_s, settings.send_http_timeout_s, settings.send_record_timeout_s
    )
    async with Runtime(settings) as rt, bootstrap(settings, rt) as deps:
        consumer = rt.work_consumers(SEND_QUEUE, dispatcher(HANDLERS, deps))
        await consumer.start()

        async def relay(stop: asyncio.Event) -> None:
            await relay_loop(stop, rt.pool, rt.publisher, sending_after_s=settings.send_reconcile_s)

        await serve(build_app(rt), settings, on_stop=[consumer.stop], background=[relay])


def main() -> None:
    """`python -m sender`."""
    settings = SenderSettings()
    configure_logging(settings)
    run_main(run(settings))
