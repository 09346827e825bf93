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
import zlib
from typing import Any

import schemathesis
from schemathesis.core import NotSet

from wacommon.providers.meta.webhook_checks import sign

SEEDED: dict[str, str] = json.loads(os.environ.get("FUZZ_SEEDED") or "{}")
APP_SECRET = os.environ.get("FUZZ_META_APP_SECRET", "")
SIGNATURE = "x-hub-signature-256"


# deleting the seeded tenant or its instances would leave every later substitution a 404
SEEDED_PATHS = ("/admin/clients/{client_id}", "/admin/clients/{client_id}/providers/{provider_id}")


def _stateful(case: Any) -> bool:
    # there the ids come from links (a resource created a step before): keep them
    meta = case.meta
    return meta is not None and str(meta.phase.name.value) == "stateful"


def _deletes_seeded(case: Any) -> bool:
    return bool(case.method.upper() == "DELETE" and case.operation.path in SEEDED_PATHS)


def _real_value(path: str, name: str) -> str | None:
    if name == "secret":
        provider = path.strip("/").split("/", 1)[0]
        return SEEDED.get(f"{provider}_secret")
    return SEEDED.get(name)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: Any) -> Any:
    # `map_case` runs in every phase (coverage included), so the choice is made per case,
    # from the whole generated case: the same seed substitutes the same cases
    params = case.path_parameters
    drawn = repr((sorted(params.items()) if params else None, case.body, case.query))
    if (
        params
        and not _stateful(case)
        and not _deletes_seeded(case)
        and zlib.crc32(drawn.encode()) % 2 == 0
    ):
        real = {
            name: value
            for name in params
            if (value := _real_value(case.operation.path, name)) is not None
        }
        case.path_parameters = {**params, **real}
    return case


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
