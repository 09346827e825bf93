"""Fault levers for end-to-end reliability tests: broker app restart and DB backend kills."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from tests.fakes.tcp_proxy import TcpProxy
from wacommon.broker.topology import WORK_QUEUES, dlq_name
from wacommon.settings import Settings


class BrokerControlUnavailable(Exception):
    """`rabbitmqctl` is missing or not permitted on this machine."""


def rabbitmqctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `rabbitmqctl args...`; raises BrokerControlUnavailable if it cannot be used."""
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise BrokerControlUnavailable("rabbitmqctl not found on PATH")
    try:
        done = subprocess.run(
            [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerControlUnavailable(f"rabbitmqctl {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise BrokerControlUnavailable(
            f"rabbitmqctl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
        )
    return done


def broker_controllable() -> str | None:
    """None when `rabbitmqctl` can talk to the node, else the reason it cannot."""
    try:
        rabbitmqctl("status", timeout=30)
    except BrokerControlUnavailable as exc:
        return str(exc)
    return None


def port_open(host: str, port: int) -> bool:
    """True if a TCP connect to host:port succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def start_broker_app(timeout: float = 60) -> None:
    """`rabbitmqctl start_app`, then wait until the AMQP port answers."""
    await asyncio.to_thread(rabbitmqctl, "start_app", timeout=timeout)
    await asyncio.to_thread(rabbitmqctl, "await_startup", timeout=timeout)
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", 5672):
        if time.monotonic() > deadline:
            raise RuntimeError("RabbitMQ port 5672 not answering after start_app")
        await asyncio.sleep(0.2)


async def restart_broker_app(down_seconds: float = 2.0) -> None:
    """Stop the RabbitMQ application, keep it down a moment, start it again."""
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(down_seconds)
    finally:
        await start_broker_app()


async def terminate_db_backends(admin_dsn: str, database: str) -> int:
    """pg_terminate_backend every connection to `database` (only that one); returns the count."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        killed = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return int(killed or 0)


def via(url: str, port: int) -> str:
    """`url` with its host and port replaced by the loopback proxy at `port`."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def proxy_to(url: str, default_port: int) -> TcpProxy:
    """A started TcpProxy in front of the server of `url`."""
    parts = urlsplit(url)
    return await TcpProxy(parts.hostname or "127.0.0.1", parts.port or default_port).start()


async def dead_letter_counts(conn: AbstractRobustConnection, settings: Settings) -> dict[str, int]:
    """Messages in each work queue's dead-letter queue of this prefix."""
    channel = await conn.channel()
    counts: dict[str, int] = {}
    try:
        for wq in WORK_QUEUES:
            queue = await channel.declare_queue(dlq_name(settings.q(wq.name)), passive=True)
            counts[wq.name] = int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()
    return counts
