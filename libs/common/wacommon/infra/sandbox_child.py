"""The child side of `wacommon.infra.sandbox`: read the request, bound itself, run, answer in JSON.

Kept apart from the parent's module (and free of its imports) so that running it
with `-m` registers nothing twice.
"""

from __future__ import annotations

import importlib
import json
import resource
import struct
import sys
from typing import Any

HEADER = struct.Struct(">I")


def _limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, hard if hard != resource.RLIM_INFINITY else value))


def _child() -> None:
    """The child's side: read the request, bound itself, run the target, answer in JSON."""
    stdin = sys.stdin.buffer
    (size,) = HEADER.unpack(stdin.read(HEADER.size))
    request = json.loads(stdin.read(size))
    module, _, name = str(request["target"]).partition(":")
    fn = getattr(importlib.import_module(module), name)  # trusted code, imported unbounded
    _limit(resource.RLIMIT_AS, int(request["memory_bytes"]))
    _limit(resource.RLIMIT_CPU, int(request["cpu_s"]))
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_CORE, 0)
    data = stdin.read()
    try:
        answer: dict[str, Any] = {"ok": fn(data, **request["kwargs"])}
    except MemoryError:
        answer = {"error": "MemoryError"}
    except BaseException as exc:  # every failure is an answer, never a traceback
        answer = {"error": type(exc).__name__, "detail": str(exc)[:200]}
    try:
        text = json.dumps(answer)
    except (TypeError, ValueError, MemoryError):
        text = json.dumps({"error": "UnserialisableResult"})
    sys.stdout.write(text)
    sys.stdout.flush()


if __name__ == "__main__":
    _child()
