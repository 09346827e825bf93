"""Wiring only: settings, logging, runtime, LLM clients, HTTP health and the scan loop."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI

from followup.deps import FollowupDeps
from followup.llm_writers import LLMFollowupWriter, LLMReminderCheck, TenantLLMs
from followup.scanner import FollowupScanner
from followup.settings import FollowupSettings
from followup.writers import (
    FollowupWriter,
    OfflineFollowupWriter,
    OfflineReminderCheck,
    ReminderCheck,
)
from waai.llm.clients import llm_clients
from waai.llm.config import AISettings
from wacommon.broker.notify import Notifier, NullNotifier
from wacommon.broker.publisher import Publisher
from wacommon.infra.logging import configure_logging
from wacommon.service.http import run_main, serve, service_app
from wacommon.service.runtime import Runtime
from wacommon.tenants.directory import PgTenantDirectory


def bootstrap(
    settings: FollowupSettings,
    *,
    pool: asyncpg.Pool,
    publisher: Publisher,
    writer: FollowupWriter | None = None,
    checker: ReminderCheck | None = None,
    notifier: Notifier | None = None,
) -> FollowupScanner:
    """The composition root: offline writer and check unless real ones are given."""
    return FollowupScanner(
        settings=settings,
        deps=FollowupDeps(
            pool=pool,
            publisher=publisher,
            writer=writer or OfflineFollowupWriter(),
            checker=checker or OfflineReminderCheck(),
            notifier=notifier or NullNotifier(),
        ),
    )


def build_app(runtime: Runtime) -> FastAPI:
    """The service's HTTP app (operations routes only: its work is the scan loop)."""
    return service_app(runtime, "followup")


async def run(settings: FollowupSettings) -> None:
    """Open the runtime, then serve health endpoints and scan until stopped."""
    ai = AISettings()
    async with (
        Runtime(settings) as runtime,
        PgTenantDirectory(runtime.pool, runtime.secrets, dsn=settings.database_url) as directory,
    ):
        clients = llm_clients(ai)
        tenants = TenantLLMs(runtime.pool, ai, runtime.secrets, directory)
        scanner = bootstrap(
            settings,
            pool=runtime.pool,
            publisher=runtime.publisher,
            writer=LLMFollowupWriter(tenants, clients, runtime.events),
            checker=LLMReminderCheck(tenants, clients, runtime.events),
            notifier=runtime.notifier,
        )
        app = build_app(runtime)
        try:
            await serve(app, settings, background=[scanner.loop])
        finally:
            await clients.aclose()


def main() -> None:
    """`python -m followup`."""
    settings = FollowupSettings()
    configure_logging(settings)
    run_main(run(settings))
