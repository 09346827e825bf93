"""Request bodies are capped before routing, on every service port (real uvicorn servers).

A body over the cap is refused with 413 as soon as the cap is passed, whether it
announces its length or streams chunks without one: nothing reads it to the end,
no secret lookup or JSON parsing happens first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import asyncpg
import pytest
import uvicorn

from lancepilot_ingest.webhooks import webhooks_router
from meta_gateway.form_proof import MAX_BODY_BYTES as FORM_MAX_BODY_BYTES
from meta_gateway.main import body_limits as gateway_body_limits
from tests.fakes.server import free_port
from wacommon.broker.publisher import FakePublisher
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.service.http import server_config, service_app
from wacommon.web.api_types import TenantPath

CAP = 256 * 1024
UPLOAD_CAP = 1024 * 1024


@contextlib.asynccontextmanager
async def running(
    app: object, settings: Settings, limits: Mapping[str, int] | None = None
) -> AsyncIterator[int]:
    port = free_port()
    capped = settings.model_copy(
        update={"http_port": port, "http_max_body_bytes": CAP, "http_max_upload_bytes": UPLOAD_CAP}
    )
    server = uvicorn.Server(server_config(app, capped, body_limits=limits))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def exchange(port: int, head: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a request head and some body bytes (maybe not the whole body); read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for chunk in chunks:
            writer.write(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        # a hang guard, not a timing assertion: an uncapped server waits for the rest forever
        status_line = await asyncio.wait_for(reader.readline(), 20)
        rest = await asyncio.wait_for(reader.read(65536), 20)
        return int(status_line.split()[1]), rest
    finally:
        writer.close()


def chunked(total: int, size: int = 16 * 1024) -> list[bytes]:
    return [b"%x\r\n" % size + b"x" * size + b"\r\n" for _ in range(total // size)]


@pytest.fixture()
def ingest_app(pool: asyncpg.Pool) -> object:
    app = service_app(None, "lancepilot-ingest")
    app.include_router(webhooks_router(pool, SecretBox("k"), FakePublisher()))
    return app


async def test_streamed_body_without_length_is_cut_at_the_cap(
    ingest_app: object, settings: Settings
) -> None:
    async with running(ingest_app, settings) as port:
        head = (
            "POST /uazapi/webhook/unknown-secret-0123456789 HTTP/1.1\r\nHost: t\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # past the cap, and the body never ends: only a cap counting chunks can answer
        status, body = await exchange(port, head, chunked(CAP + 16 * 1024))
    assert status == 413
    assert str(CAP).encode() in body


async def test_announced_length_over_the_cap_is_refused_before_reading(
    ingest_app: object, settings: Settings
) -> None:
    async with running(ingest_app, settings) as port:
        head = (
            "POST /lancepilot/webhook/unknown-secret-0123456789 HTTP/1.1\r\nHost: t\r\n"
            "Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n"
        )
        status, body = await exchange(port, head, [])
    assert status == 413
    assert b"HTTP_MAX_BODY_BYTES" in body


async def test_a_body_under_the_cap_reaches_the_route(
    ingest_app: object, settings: Settings
) -> None:
    payload = b'{"EventType": "messages"}'
    async with running(ingest_app, settings) as port:
        head = (
            "POST /uazapi/webhook/unknown-secret-0123456789 HTTP/1.1\r\nHost: t\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        status, _ = await exchange(port, head, [payload])
    assert status == 401  # the route's own answer: unknown webhook URL


async def test_every_port_is_capped_even_a_route_that_takes_no_body(settings: Settings) -> None:
    async with running(service_app(None, "metrics"), settings) as port:
        head = "POST /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        status, _ = await exchange(port, head, chunked(CAP + 16 * 1024))
    assert status == 413


async def test_document_uploads_get_the_larger_cap_and_forms_a_smaller_one(
    settings: Settings,
) -> None:
    app = service_app(None, "meta-gateway")

    @app.post("/admin/clients/{client_id}/documents")
    async def upload(tenant_id: TenantPath) -> dict[str, str]:
        return {"ok": tenant_id}

    @app.post("/api/v1/forms/{client_id}/submit")
    async def submit(tenant_id: TenantPath) -> dict[str, str]:
        return {"ok": tenant_id}

    limits = gateway_body_limits(settings.model_copy(update={"http_max_upload_bytes": UPLOAD_CAP}))
    async with running(app, settings, limits) as port:
        big = 2 * CAP  # over the default cap, under the upload cap
        head = (
            "POST /admin/clients/abc/documents HTTP/1.1\r\nHost: t\r\n"
            f"Content-Length: {big}\r\n\r\n"
        )
        status, _ = await exchange(port, head, [b"x" * big])
        assert status == 200
        head = (
            "POST /admin/clients/abc/documents HTTP/1.1\r\nHost: t\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        status, body = await exchange(port, head, chunked(UPLOAD_CAP + 16 * 1024))
        assert status == 413 and str(UPLOAD_CAP).encode() in body
        head = "POST /api/v1/forms/abc/submit HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        # a form's cap (64 KiB) is far below the default one
        status, body = await exchange(port, head, chunked(FORM_MAX_BODY_BYTES + 16 * 1024))
        assert status == 413 and str(FORM_MAX_BODY_BYTES).encode() in body
