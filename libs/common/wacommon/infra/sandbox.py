"""Parse untrusted bytes in a child process with a time, CPU and memory bound.

A customer's PDF (or an uploaded document) can be built to make a parser take
minutes or gigabytes (a 50 KB PDF whose page inflates to 50 MB of text took 54 s
and 1 GB here), or to fail in ways nobody listed. The parser runs instead in a
fresh child (`python -I -m wacommon.infra.sandbox_child`) under `setrlimit` (address space,
CPU seconds, no file writes) and a wall-clock timeout after which it is killed.
Whatever goes wrong there, the caller gets one `ParseFailed` with a short reason:
the file is unreadable, permanently; the service itself is untouched.

The child gets the target function's dotted name and keyword arguments from the
parent (trusted) and answers in JSON only (never pickle: its input is hostile).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from wacommon.infra.sandbox_child import HEADER
from wacommon.infra.settings import Settings

PARSES = Counter("wa_sandbox_parses_total", "Bounded parses of untrusted files", ["outcome"])


@dataclass(frozen=True)
class ParseLimits:
    """Bounds of one parse: wall clock, address space, answer size, parallel children."""

    timeout_s: float = 20.0
    memory_bytes: int = 768 * 1024 * 1024
    max_output_bytes: int = 16 * 1024 * 1024
    concurrency: int = 2


class ParseFailed(Exception):
    """The file could not be parsed within its bounds (or at all): treat it as unreadable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_limits(settings: Settings) -> ParseLimits:
    """The deployment's bounds (PARSE_TIMEOUT_S, PARSE_MAX_MEMORY_BYTES, PARSE_CONCURRENCY)."""
    return ParseLimits(
        timeout_s=settings.parse_timeout_s,
        memory_bytes=settings.parse_max_memory_bytes,
        concurrency=settings.parse_concurrency,
    )


_slots: dict[int, asyncio.Semaphore] = {}


def _slot(limits: ParseLimits) -> asyncio.Semaphore:
    # one pool of child slots per configured width: a burst of files cannot fork a crowd
    if limits.concurrency not in _slots:
        _slots[limits.concurrency] = asyncio.Semaphore(max(1, limits.concurrency))
    return _slots[limits.concurrency]


async def run_bounded(target: str, data: bytes, limits: ParseLimits, **kwargs: Any) -> Any:
    """`target(data, **kwargs)` ("package.module:function") in a bounded child; its JSON result.

    Raises `ParseFailed` for a timeout, memory exhaustion, a crash, any exception in
    the target, or an answer that is too large or not JSON.
    """
    header = json.dumps(
        {
            "target": target,
            "kwargs": kwargs,
            "memory_bytes": limits.memory_bytes,
            "cpu_s": int(limits.timeout_s) + 1,
        }
    ).encode()
    async with _slot(limits):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-m",
            "wacommon.infra.sandbox_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            # nothing of the service's environment (keys, tokens) reaches the parser
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
        )
        try:
            out = await asyncio.wait_for(
                _exchange(proc, HEADER.pack(len(header)) + header + data, limits),
                limits.timeout_s,
            )
        except TimeoutError:
            PARSES.labels("timeout").inc()
            raise ParseFailed("timeout") from None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await _reap(proc)
    return _answer(out, proc.returncode)


async def _exchange(proc: asyncio.subprocess.Process, payload: bytes, limits: ParseLimits) -> bytes:
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(payload)
        await proc.stdin.drain()
        proc.stdin.close()
    chunks: list[bytes] = []
    size = 0
    while chunk := await proc.stdout.read(65536):
        size += len(chunk)
        if size > limits.max_output_bytes:
            PARSES.labels("too_large").inc()
            raise ParseFailed("output_too_large")  # the caller kills the child
        chunks.append(chunk)
    await proc.wait()
    return b"".join(chunks)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait for a (killed) child. What it left in the pipe is drained first: asyncio only
    reports the exit once the pipe is closed, and a full, unread pipe never closes."""
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            while await proc.stdout.read(65536):
                pass
    await proc.wait()


def _answer(out: bytes, returncode: int | None) -> Any:
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # killed by a signal (SIGXCPU at the CPU limit, SIGKILL) or died without a word
        PARSES.labels("crashed").inc()
        raise ParseFailed(f"crashed (exit {returncode})")
    if "ok" in answer:
        PARSES.labels("ok").inc()
        return answer["ok"]
    error = str(answer.get("error") or "error")
    PARSES.labels("memory" if error == "MemoryError" else "error").inc()
    raise ParseFailed("memory" if error == "MemoryError" else f"error: {error}")
