"""Fault levers for reliability tests that disturb only the test itself.

- `OwnBroker` / `broker_node`: a RabbitMQ node of the test's own to restart (the shared broker
  is never stopped: other helpers and test runs use it);
- `TcpProxy` helpers (`proxy_to`, `via`): services reach PostgreSQL or Redis through a proxy
  the test cuts, which is an outage for them alone;
- `terminate_db_backends`: kills the connections to the test's own database only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.fakes.server import free_port
from tests.fakes.tcp_proxy import TcpProxy
from wacommon.broker.topology import WORK_QUEUES, dlq_name
from wacommon.infra.settings import Settings

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


class OwnBrokerUnavailable(Exception):
    """A RabbitMQ node of the test's own cannot be started on this machine."""


def port_open(host: str, port: int) -> bool:
    """True if a TCP connect to host:port succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tool(name: str) -> str:
    """The RabbitMQ script itself (Debian's /usr/sbin wrappers switch to the rabbitmq user
    and would drop the environment that makes the node ours)."""
    direct = RABBITMQ_BIN / name
    if direct.exists():
        return str(direct)
    found = shutil.which(name)
    if found is None:
        raise OwnBrokerUnavailable(f"{name} not found")
    return found


@dataclass
class OwnBroker:
    """A RabbitMQ node only this test uses: its own name, ports, data, logs and cookie.

    Restarting it disturbs no one (the shared broker is never stopped by a test). Everything
    lives in `base`, removed by `shutdown`.
    """

    base: Path
    node: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base),  # the Erlang cookie the node and its CLI share
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
        }

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`rabbitmqctl -n <our node> args...`; raises OwnBrokerUnavailable on failure."""
        cmd = [_tool("rabbitmqctl"), "-n", self.node, *args]
        try:
            done = subprocess.run(
                cmd,
                env=self.env(),
                cwd=self.base,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OwnBrokerUnavailable(f"rabbitmqctl {' '.join(args)}: {exc}") from exc
        if done.returncode != 0:
            raise OwnBrokerUnavailable(
                f"rabbitmqctl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[:500]}"
            )
        return done

    async def _await_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise OwnBrokerUnavailable(
                    f"node {self.node} not answering on {self.port}; see {self.base / 'log'}"
                )
            await asyncio.sleep(0.3)

    async def start(self, timeout: float = 120) -> OwnBroker:
        """Boot the node (no plugins) and wait until AMQP answers."""
        (self.base / "enabled_plugins").write_text("[].\n")
        try:
            subprocess.run(
                [_tool("rabbitmq-server"), "-detached"],
                env=self.env(),
                cwd=self.base,
                check=True,
                timeout=60,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise OwnBrokerUnavailable(f"rabbitmq-server -detached: {exc}") from exc
        await self._await_port(timeout)
        await asyncio.to_thread(self.ctl, "await_startup", "--timeout", str(int(timeout)))
        return self

    async def stop_app(self) -> None:
        await asyncio.to_thread(self.ctl, "stop_app")

    async def start_app(self, timeout: float = 60) -> None:
        await asyncio.to_thread(self.ctl, "start_app")
        await self._await_port(timeout)

    async def restart_app(self, down_seconds: float = 2.0) -> None:
        """Stop the RabbitMQ application, keep it down a moment, start it again."""
        await self.stop_app()
        try:
            await asyncio.sleep(down_seconds)
        finally:
            await self.start_app()

    def shutdown(self) -> None:
        """Stop the node for good and remove its files."""
        with contextlib.suppress(OwnBrokerUnavailable):
            self.ctl("shutdown", timeout=60)
        pid_file = self.base / "node.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.asynccontextmanager
async def own_broker() -> AsyncIterator[OwnBroker]:
    """A started node of the test's own (OwnBrokerUnavailable if it cannot start here)."""
    broker = OwnBroker(Path(tempfile.mkdtemp(prefix="wa-rabbit-")))
    try:
        yield await broker.start()
    finally:
        await asyncio.to_thread(broker.shutdown)


@pytest.fixture(scope="module")
async def broker_node() -> AsyncIterator[OwnBroker]:
    """Module fixture: an own RabbitMQ node, or the test is skipped with the reason."""
    try:
        async with own_broker() as broker:
            yield broker
    except OwnBrokerUnavailable as exc:
        pytest.skip(f"no RabbitMQ node of the test's own: {exc}")


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
