"""HTTP plumbing every service shares: health, readiness, Prometheus, and serving with drain."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp

from wacommon.runtime import Runtime
from wacommon.settings import Settings

log = structlog.get_logger(__name__)


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
    app.add_exception_handler(StarletteHTTPException, _allow_every_method)
    return app


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
) -> None:
    """Serve HTTP and background loops until SIGTERM/SIGINT; then drain and stop."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # everything allocated at start-up is long-lived: keep it out of the collector's way
    # (a full collection of a service's start-up heap is a ~100 ms pause on this machine)
    gc.collect()
    gc.freeze()
    server_task = asyncio.create_task(server.serve())
    tasks = [asyncio.create_task(fn(stop)) for fn in background or []]
    log.info("service_started", port=settings.port)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, server_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    log.info("service_stopping")
    for fn in on_stop or []:
        try:
            await fn()
        except Exception as exc:
            log.warning("stop_hook_failed", error=repr(exc))
    for task in tasks:
        try:
            await asyncio.wait_for(task, 10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception as exc:
            log.warning("background_task_failed", error=repr(exc))
    server.should_exit = True
    await server_task
    log.info("service_stopped")


def run_main(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (uvicorn cannot pick the loop: we own it)."""
    uvloop.run(main)
