"""A RabbitMQ node of the test's own: stop and start it without touching the shared broker.

The node runs from the installed `rabbitmq-server` with everything in a temporary folder:
its own node name, AMQP and distribution ports (free ones, picked at random), data and log folders, an empty plugin list
and its own Erlang cookie (`HOME` points at the folder, so neither the node nor the
`rabbitmqctl` calls read or write the shared node's cookie). `RabbitNode.start()` raises
`RabbitNodeUnavailable` with the reason when the node cannot start; tests skip on it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fakes.server import free_port

# the Debian package's scripts, which run as the calling user (/usr/sbin wraps them in `su`)
_BIN = Path("/usr/lib/rabbitmq/bin")


class RabbitNodeUnavailable(RuntimeError):
    """The private node could not be started (no RabbitMQ installed, or it failed to boot)."""


def _tool(name: str) -> str | None:
    local = _BIN / name
    if local.exists():
        return str(local)
    return shutil.which(name)


class RabbitNode:
    """One private RabbitMQ node; `url` is its AMQP URL once started."""

    def __init__(self, name: str) -> None:
        self.node = f"{name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._dir = Path(tempfile.mkdtemp(prefix=f"{name}-rabbit-"))
        self._env: dict[str, str] = {}

    def _prepare(self) -> None:
        cookie = self._dir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        plugins = self._dir / "enabled_plugins"
        plugins.write_text("[].\n")
        for sub in ("mnesia", "log"):
            (self._dir / sub).mkdir()
        self._env = {
            **os.environ,
            "HOME": str(self._dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self._dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self._dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_CONFIG_FILE": str(self._dir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self._dir / "advanced.config"),
            "RABBITMQ_PID_FILE": str(self._dir / "node.pid"),
            # a node that crashes writes its dump here, not into the caller's folder
            "ERL_CRASH_DUMP": str(self._dir / "erl_crash.dump"),
        }

    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`rabbitmqctl -n <this node> ...` (never the shared node)."""
        tool = _tool("rabbitmqctl")
        if tool is None:
            raise RabbitNodeUnavailable("rabbitmqctl is not installed")
        return subprocess.run(
            [tool, "-n", self.node, *args],
            env=self._env,
            cwd=self._dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, attempts: int = 3) -> RabbitNode:
        """Boot the node; a boot that fails (a port taken meanwhile) is tried on new ports."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start()
            except RabbitNodeUnavailable:
                if attempt == attempts:
                    raise
                self.port, self.dist_port = free_port(), free_port()
                self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
                self._dir = Path(tempfile.mkdtemp(prefix=f"{self.node.split('@')[0]}-rabbit-"))
        raise AssertionError("unreachable")

    def _start(self) -> RabbitNode:
        server = _tool("rabbitmq-server")
        if server is None:
            raise RabbitNodeUnavailable("rabbitmq-server is not installed")
        self._prepare()
        started = subprocess.run(
            [server, "-detached"],
            env=self._env,
            cwd=self._dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RabbitNodeUnavailable(
                f"rabbitmq-server -detached failed: {started.stderr[-500:]}"
            )
        ready = self._await_startup(90)
        if ready.returncode != 0:
            log = "\n".join(
                line
                for f in (self._dir / "log").glob("*.log")
                for line in f.read_text().splitlines()
                if "[error]" in line
            )
            self.stop()
            raise RabbitNodeUnavailable(f"the private node did not boot: {log[-800:]}")
        return self

    def _await_startup(self, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """`await_startup`, again while the detached node has not registered yet (it then
        answers "not running" at once instead of waiting)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = self.ctl("await_startup", "--timeout", str(int(timeout_s)))
            if ready.returncode == 0 or time.monotonic() > deadline:
                return ready
            time.sleep(0.5)

    def stop_app(self) -> None:
        self._check(self.ctl("stop_app"))

    def start_app(self) -> None:
        self._check(self.ctl("start_app"))
        self._check(self._await_startup(90))

    def stop(self) -> None:
        """Halt the node and remove its folder."""
        stopped = False
        try:
            if self._env:
                stopped = self.ctl("stop", timeout=60).returncode == 0
        finally:
            if self._env and not stopped:
                self._kill_leftover()
            shutil.rmtree(self._dir, ignore_errors=True)

    def _kill_leftover(self) -> None:
        """The node's own process (by its pid file) if `stop` did not end it."""
        pid_file = self._dir / "node.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _check(done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl failed: {(done.stdout + done.stderr)[-500:]}")
