"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/fuzz/run.py).

Generated ids almost never name a row, so half of the generated path parameters are
replaced by the seeded tenant's real ids and webhook secrets: the fuzzer then reaches
the handlers behind the 404/401, with everything else in the request still generated.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

SEEDED: dict[str, str] = json.loads(os.environ.get("FUZZ_SEEDED") or "{}")


def _real_value(path: str, name: str) -> str | None:
    if name == "secret":
        provider = path.strip("/").split("/", 1)[0]
        return SEEDED.get(f"{provider}_secret")
    return SEEDED.get(name)


@schemathesis.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    if not path_parameters:
        return st.just(path_parameters)
    operation = context.operation
    path = operation.path if operation is not None else ""
    choices: list[st.SearchStrategy[dict[str, Any] | None]] = [st.just(path_parameters)]
    real = {
        name: value for name in path_parameters if (value := _real_value(path, name)) is not None
    }
    if real:
        choices.append(st.just({**path_parameters, **real}))
    return st.one_of(choices)
