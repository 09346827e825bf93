"""console: the web console for tenants' owners and attendants. Wiring only."""

from __future__ import annotations

from console.app import build_app
from console.deps import ConsoleDeps
from console.settings import ConsoleSettings
from wacommon.infra.logging import configure_logging
from wacommon.service.http import run_main, serve
from wacommon.service.runtime import Runtime


def bootstrap(settings: ConsoleSettings, runtime: Runtime) -> ConsoleDeps:
    """The composition root: what the routes talk to, on an opened runtime."""
    return ConsoleDeps.build(
        settings,
        runtime.pool,
        runtime.redis,
        publisher=runtime.publisher,
        connection=runtime.connection,
        events=runtime.events,
        runtime=runtime,
    )


async def run(settings: ConsoleSettings) -> None:
    """Open the runtime and serve the console until stopped."""
    async with Runtime(settings) as runtime:
        await serve(
            build_app(bootstrap(settings, runtime)),
            settings,
            # knowledge documents are larger than HTTP_MAX_BODY_BYTES allows
            body_limits={r"/api/knowledge/documents": settings.http_max_upload_bytes},
        )


def main() -> None:
    """`python -m console`."""
    settings = ConsoleSettings()
    configure_logging(settings)
    run_main(run(settings))


if __name__ == "__main__":
    main()
