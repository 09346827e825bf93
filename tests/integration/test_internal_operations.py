"""/metrics and the API docs can leave the public port for an internal interface."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx

from tests.fakes.server import free_port
from wacommon.service.http import service_app, split_operations


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")  # type: ignore[arg-type]


async def test_operations_routes_move_to_the_internal_app() -> None:
    app = service_app(None, "meta-gateway")

    @app.get("/admin/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    async with _client(app) as public:
        # the default: everything on one port, as before
        assert (await public.get("/metrics")).status_code == 200
        assert (await public.get("/docs")).status_code == 200

    outside, internal = split_operations(app)
    async with _client(outside) as public, _client(internal) as inside:
        for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
            assert (await public.get(path)).status_code == 404, path
        assert (await public.get("/admin/ping")).json() == {"ok": "yes"}
        assert (await public.get("/healthz")).status_code == 200  # probes stay where they were
        metrics = await inside.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text
        schema = (await inside.get("/openapi.json")).json()
        assert "/admin/ping" in schema["paths"]
        assert "swagger" in (await inside.get("/docs")).text.lower()
        assert (await inside.get("/admin/ping")).status_code == 404


async def test_a_service_with_an_internal_port_serves_metrics_only_there(
    database: str, test_env: dict[str, str]
) -> None:
    port, inner = free_port(), free_port()
    env = {
        **os.environ,
        **test_env,
        "HTTP_PORT": str(port),
        "INTERNAL_HTTP_PORT": str(inner),
        "AGGREGATION_INTERVAL_S": "3600",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "metrics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):  # start-up: up to ~30 s on a busy machine
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                proc.terminate()
                raise AssertionError(
                    f"the service did not start: {proc.communicate()[1][-2000:]!r}"
                )
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 404
            assert (await http.get(f"http://127.0.0.1:{port}/docs")).status_code == 404
            inside = await http.get(f"http://127.0.0.1:{inner}/metrics")
            assert inside.status_code == 200 and "python_info" in inside.text
            assert (await http.get(f"http://127.0.0.1:{inner}/openapi.json")).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
