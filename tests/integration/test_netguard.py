"""Tenant tool HTTP: private addresses are refused when the connection opens (DNS rebinding)."""

from __future__ import annotations

import typing

import httpcore
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rag_worker.tools.netguard import PublicOnlyBackend, UrlBlocked, public_only_client
from tests.fakes.server import serve_in_thread

SEEN: list[str] = []


async def echo(request: Request) -> JSONResponse:
    SEEN.append(request.url.path)
    return JSONResponse({"host": request.headers.get("host")})


APP = Starlette(routes=[Route("/{path:path}", echo)])


def resolver_of(answers: dict[str, list[str]]) -> typing.Any:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_a_name_that_resolves_to_loopback_at_connect_time_is_refused() -> None:
    # check_url saw a public address a moment ago; the second lookup answers loopback
    with serve_in_thread(APP) as server:
        resolve = resolver_of({"tenant-api.example": ["127.0.0.1"]})
        async with public_only_client([], resolver=resolve) as client:
            SEEN.clear()
            with pytest.raises(UrlBlocked):
                await client.get(f"http://tenant-api.example:{server.port}/secret")
        assert SEEN == []  # nothing reached the local server
        assert resolve.calls == ["tenant-api.example"]


async def test_loopback_literal_and_mixed_answers_are_refused() -> None:
    with serve_in_thread(APP) as server:
        # one public and one private answer: the private one could be picked, so no
        resolve = resolver_of(
            {"127.0.0.1": ["127.0.0.1"], "mixed.example": ["8.8.8.8", "10.0.0.7"]}
        )
        async with public_only_client([], resolver=resolve) as client:
            with pytest.raises(UrlBlocked):
                await client.get(f"{server.url}/x")
            with pytest.raises(UrlBlocked):
                await client.get("https://mixed.example/x")


async def test_the_socket_goes_to_the_address_that_was_checked() -> None:
    backend = PublicOnlyBackend([], resolver_of({"api.example": ["8.8.4.4"]}))
    opened: list[tuple[str, int]] = []

    class Recorder(httpcore.AsyncNetworkBackend):
        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
        ) -> httpcore.AsyncNetworkStream:
            opened.append((host, port))
            raise httpcore.ConnectError("recorded, not connected")

    backend._inner = Recorder()  # type: ignore[assignment]
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("api.example", 443)
    assert opened == [("8.8.4.4", 443)]


async def test_hosts_the_operator_allows_are_reached() -> None:
    with serve_in_thread(APP) as server:
        async with public_only_client(["127.0.0.1"]) as client:
            resp = await client.get(f"{server.url}/ok")
        assert resp.status_code == 200
        assert resp.json() == {"host": f"127.0.0.1:{server.port}"}
