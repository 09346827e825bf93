"""The shared guard: private addresses are refused when the connection opens (DNS rebinding)."""

from __future__ import annotations

import typing

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import serve_in_thread
from waai.llm.config import AISettings
from waai.tools.guarded_http import tool_http_client
from wacommon.infra.netguard import AddressBlocked, PublicOnlyBackend, is_public, public_only_client
from wacommon.providers.meta.media import MediaDownloadFailed, download_meta_media
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

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
            with pytest.raises(AddressBlocked):
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
            with pytest.raises(AddressBlocked):
                await client.get(f"{server.url}/x")
            with pytest.raises(AddressBlocked):
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


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "169.254.169.254",
        "10.1.2.3",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::127.0.0.1",  # IPv4-compatible form of loopback
        "::a9fe:a9fe",  # ... and of the cloud metadata address
        "64:ff9b::127.0.0.1",  # NAT64 of loopback
        "64:ff9b::169.254.169.254",
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
    ],
)
def test_private_addresses_in_every_ipv6_disguise_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::8.8.8.8", "2002:0808:0808::1"]
)
def test_public_addresses_stay_public(address: str) -> None:
    assert is_public(address)


async def test_a_nat64_answer_for_loopback_is_refused_at_connect_time() -> None:
    with serve_in_thread(APP) as server:
        resolve = resolver_of({"nat64.example": ["64:ff9b::7f00:1"]})
        async with public_only_client([], resolver=resolve) as client:
            SEEN.clear()
            with pytest.raises(AddressBlocked):
                await client.get(f"http://nat64.example:{server.port}/x")
        assert SEEN == []


async def test_the_tools_client_of_worker_and_simulator_refuses_a_rebound_name() -> None:
    # the simulator used to hand tools a plain client: a name rebound to loopback got through
    with serve_in_thread(APP) as server:
        resolve = resolver_of({"erp.example": ["127.0.0.1"]})
        async with tool_http_client(AISettings(), resolver=resolve) as client:
            SEEN.clear()
            with pytest.raises(AddressBlocked):
                await client.get(f"http://erp.example:{server.port}/x")
        assert SEEN == []


@pytest.mark.parametrize("media_id", ["..", "."])
async def test_a_webhook_media_id_cannot_walk_the_graph_path(media_id: str) -> None:
    state = GraphState(tokens={"1": "EAAtoken"})
    with serve_in_thread(make_graph_app(state)) as server:
        async with httpx.AsyncClient() as http:
            with pytest.raises(MediaDownloadFailed):
                await download_meta_media(
                    http,
                    graph_url=server.url,
                    version="v23.0",
                    media_id=media_id,
                    access_token="EAAtoken",
                    max_bytes=1024,
                )
    assert state.requests == []
