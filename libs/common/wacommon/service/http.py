"""HTTP plumbing every service shares: health, readiness, Prometheus, and serving with drain."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import asyncpg
import structlog
import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from wacommon.infra.settings import Settings
from wacommon.service.runtime import Runtime
from wacommon.web.body_limit import BodyLimit

log = structlog.get_logger(__name__)

# how long background loops get to finish after `stop`, and a cancelled one to unwind
BACKGROUND_DRAIN_S = 10.0
CANCEL_GRACE_S = 2.0


def health_router(runtime: Runtime | None) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @router.get("/readyz", responses={503: {"description": "a dependency is not reachable"}})
    async def readyz() -> JSONResponse:
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def service_app(runtime: Runtime | None, title: str) -> FastAPI:
    """A FastAPI app with the operations routes; services add their own routers."""
    app = FastAPI(title=title)
    app.include_router(health_router(runtime))
    app.add_exception_handler(asyncpg.DataError, _refused_value)
    app.add_exception_handler(UnicodeEncodeError, _refused_value)
    app.add_exception_handler(StarletteHTTPException, _allow_every_method)
    return app


async def _refused_value(request: Request, exc: Exception) -> JSONResponse:
    """A request value PostgreSQL refuses (U+0000, a lone surrogate, a number out of range)
    is the caller's mistake: 422 with the reason, not a 500. The value itself is not echoed
    (asyncpg puts it in its message, and it may be a secret)."""
    sqlstate = getattr(exc, "sqlstate", None)
    log.warning("request_value_refused", path=request.url.path, sqlstate=sqlstate)
    reason = (
        "a value in the request cannot be stored: text may not contain U+0000 or lone"
        " surrogates, and numbers and dates must be in range"
    )
    return JSONResponse({"detail": reason}, status_code=422)


def server_config(
    app: ASGIApp,
    settings: Settings,
    *,
    body_limits: Mapping[str, int] | None = None,
    host: str | None = None,
    port: int | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration of one of a service's ports: bodies capped before routing."""
    return uvicorn.Config(
        BodyLimit(app, settings.http_max_body_bytes, body_limits),
        host=host or settings.http_host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


# what an operator needs and the internet must not see: metrics and the API's full map
OPERATIONS_PATHS = frozenset(
    {"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)


class WithoutOperations:
    """The public face of a service: the operations paths answer 404 before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in OPERATIONS_PATHS:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _inner_fastapi(app: object) -> FastAPI | None:
    """The FastAPI app inside ASGI wrappers (middleware keep theirs in `.app`)."""
    for _ in range(8):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def split_operations(app: ASGIApp) -> tuple[ASGIApp, FastAPI]:
    """(public app, internal app): /metrics and the API docs only on the internal one."""
    api = _inner_fastapi(app)
    title = api.title if api is not None else "service"
    schema: dict[str, Any] = api.openapi() if api is not None else {}
    internal = FastAPI(title=f"{title} (internal)", docs_url=None, redoc_url=None, openapi_url=None)

    @internal.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @internal.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(schema)

    @internal.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=title)

    return WithoutOperations(app), internal


async def _allow_every_method(request: Request, exc: Exception) -> Response:
    """A 405's `Allow` lists every method of the path, not only those of the first route
    matched (FastAPI makes one route per method, and Starlette stops at the first)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        routes = request.app.router.routes
        allowed = [
            method
            for method in _METHODS
            if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
        ]
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def serve(
    app: ASGIApp,
    settings: Settings,
    *,
    on_stop: list[Callable[[], Awaitable[None]]] | None = None,
    background: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> None:
    """Serve HTTP and background loops until SIGTERM/SIGINT; then drain and stop."""
    internal_app: FastAPI | None = None
    if settings.internal_http_port:
        app, internal_app = split_operations(app)
    servers = [uvicorn.Server(server_config(app, settings, body_limits=body_limits))]
    if internal_app is not None and settings.internal_http_port:
        internal = server_config(
            internal_app,
            settings,
            host=settings.internal_http_host,
            port=settings.internal_http_port,
        )
        servers.append(uvicorn.Server(internal))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # everything allocated at start-up is long-lived: keep it out of the collector's way
    # (a full collection of a service's start-up heap is a ~100 ms pause on this machine)
    gc.collect()
    gc.freeze()
    server_tasks = [asyncio.create_task(s.serve()) for s in servers]
    tasks = [asyncio.create_task(fn(stop)) for fn in background or []]
    log.info("service_started", port=settings.port, internal_port=settings.internal_http_port)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *server_tasks, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    log.info("service_stopping")
    for fn in on_stop or []:
        try:
            await fn()
        except Exception as exc:
            log.warning("stop_hook_failed", error=repr(exc))
    # background loops end on `stop`; one stuck past the drain time is cancelled, and one
    # that does not even end when cancelled is left behind rather than holding the exit
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=BACKGROUND_DRAIN_S)
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=CANCEL_GRACE_S)
            if stuck:
                log.warning("background_task_stuck", tasks=len(stuck))
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("background_task_failed", error=repr(task.exception()))
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*server_tasks)
    log.info("service_stopped")


def run_main(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (uvicorn cannot pick the loop: we own it)."""
    uvloop.run(main)
