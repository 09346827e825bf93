"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/fuzz/run.py).

Generated ids almost never name a row, so half of the generated path parameters are
replaced by the seeded tenant's real ids and webhook secrets: the fuzzer then reaches
the handlers behind the 404/401, with everything else in the request still generated.
For the same reason a Meta delivery that carries a signature header is signed for real
(a missing header is left missing), and a Uazapi body's `token` is the instance's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.core import NotSet

from wacommon.providers.meta_webhook_checks import sign

SEEDED: dict[str, str] = json.loads(os.environ.get("FUZZ_SEEDED") or "{}")
APP_SECRET = os.environ.get("FUZZ_META_APP_SECRET", "")
SIGNATURE = "x-hub-signature-256"


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


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Any, kwargs: Any) -> None:
    path = case.operation.path
    if path == "/meta/webhook" and case.method.upper() == "POST":
        headers: dict[str, Any] = case.headers or {}
        raw = _sent_bytes(case.body)
        for name in headers:
            if name.lower() == SIGNATURE and raw is not None:
                headers[name] = sign(raw, APP_SECRET)
    elif (
        path.startswith("/uazapi/webhook/")
        and isinstance(case.body, dict)
        and "token" in case.body
        and SEEDED.get("uazapi_token")
    ):
        case.body["token"] = SEEDED["uazapi_token"]


def _sent_bytes(body: object) -> bytes | None:
    """The bytes the requests transport sends for a JSON body (signed as they will go)."""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"  # schemathesis sends an explicit null this way
    if isinstance(body, NotSet):
        return b""
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError):
        return None
