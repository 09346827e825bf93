"""The sender's sharded HTTP transport: requests take the pools in turn, each keeps its connection."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sender.clients.pool import ShardedTransport


async def test_requests_round_robin_over_pools_that_keep_their_connections() -> None:
    peers: list[tuple[str, int]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername"))
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                body = b'{"ok":true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    try:
        async with httpx.AsyncClient(transport=ShardedTransport(limits, shards=4)) as http:
            answers = [(await http.get(f"http://127.0.0.1:{port}/x")).json() for _ in range(12)]
    finally:
        server.close()
        await server.wait_closed()
    assert answers == [{"ok": True}] * 12
    # sequential requests in turn over 4 pools: one connection each, reused
    assert len(set(peers)) == 4


def test_shards_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ShardedTransport(httpx.Limits(), shards=0)
