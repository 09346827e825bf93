"""Fault levers for end-to-end reliability tests: broker app restart and DB backend kills."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time

import asyncpg


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
