"""Wiring only: settings, logging, runtime, HTTP health and the scan loop."""

from __future__ import annotations

import asyncio

from wacommon.http import serve, service_app
from wacommon.logging import configure_logging
from wacommon.runtime import Runtime

from followup.scanner import bootstrap
from followup.settings import FollowupSettings


async def run(settings: FollowupSettings) -> None:
    """Open the runtime, then serve health endpoints and scan until stopped."""
    async with Runtime(settings) as runtime:
        scanner = bootstrap(settings, pool=runtime.pool, publisher=runtime.publisher)
        app = service_app(runtime, "followup")
        await serve(app, settings, background=[scanner.loop])


def main() -> None:
    """`python -m followup`."""
    settings = FollowupSettings()
    configure_logging(settings)
    asyncio.run(run(settings))
