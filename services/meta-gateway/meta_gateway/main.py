"""meta-gateway: Meta webhooks and the admin API. Wiring only."""

from __future__ import annotations

from fastapi import FastAPI

from meta_gateway.admin.conversations import conversations_router
from meta_gateway.admin.form_secret import form_secret_router
from meta_gateway.admin.knowledge import knowledge_router
from meta_gateway.admin.meta_account import meta_account_router
from meta_gateway.admin.replay_lab import replay_lab_router
from meta_gateway.admin.reply_files import reply_files_router
from meta_gateway.admin.simulator import simulator_router
from meta_gateway.admin.tenants import tenants_router
from meta_gateway.admin.users import users_router
from meta_gateway.deps import GatewayDeps
from meta_gateway.form_proof import MAX_BODY_BYTES as FORM_MAX_BODY_BYTES
from meta_gateway.forms import forms_router
from meta_gateway.settings import GatewaySettings
from meta_gateway.webhook import install_fast_path, webhook_router
from wacommon.infra.logging import configure_logging
from wacommon.infra.settings import Settings
from wacommon.service.http import run_main, serve, service_app
from wacommon.service.runtime import Runtime


def bootstrap(settings: Settings, runtime: Runtime) -> GatewayDeps:
    """The composition root: what the routers talk to, on an opened runtime."""
    return GatewayDeps(
        settings=settings,
        pool=runtime.pool,
        redis=runtime.redis,
        publisher=runtime.publisher,
        secrets=runtime.secrets,
    )


def build_app(runtime: Runtime) -> FastAPI:
    """The gateway's HTTP app on an opened runtime."""
    deps = bootstrap(runtime.settings, runtime)
    settings, pool, secrets, publisher = deps.settings, deps.pool, deps.secrets, deps.publisher
    app = service_app(runtime, "meta-gateway")
    app.include_router(webhook_router(settings, publisher))
    app.include_router(tenants_router(settings, pool, secrets))
    app.include_router(form_secret_router(settings, pool, secrets))
    app.include_router(users_router(settings, pool))
    app.include_router(knowledge_router(settings, pool))
    app.include_router(reply_files_router(settings, pool))
    app.include_router(conversations_router(settings, pool))
    app.include_router(meta_account_router(settings, pool, secrets))
    app.include_router(simulator_router(settings, pool, secrets))
    app.include_router(replay_lab_router(settings, pool, secrets))
    app.include_router(forms_router(settings, pool, deps.redis, publisher, secrets))
    install_fast_path(app, settings, publisher)
    return app


def body_limits(settings: Settings) -> dict[str, int]:
    """Routes whose request bodies get another cap than HTTP_MAX_BODY_BYTES."""
    return {
        r"/admin/clients/[^/]+/documents": settings.http_max_upload_bytes,
        r"/admin/clients/[^/]+/files": settings.http_max_upload_bytes,
        r"/api/v1/forms/[^/]+/submit": FORM_MAX_BODY_BYTES,
    }


async def run(settings: GatewaySettings) -> None:
    """Open the runtime and serve the webhooks and the admin API until stopped."""
    async with Runtime(settings) as runtime:
        await serve(build_app(runtime), settings, body_limits=body_limits(settings))


def main() -> None:
    """`python -m meta_gateway`."""
    settings = GatewaySettings()
    configure_logging(settings)
    run_main(run(settings))


if __name__ == "__main__":
    main()
