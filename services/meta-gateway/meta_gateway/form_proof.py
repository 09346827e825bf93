"""Reading a form submission: its raw body (bounded), the proof it comes from the tenant's
form integration (the shared secret, or an HMAC of the body with it), and its fields."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from typing import Any

from fastapi import HTTPException, Request, status

from wacommon.infra.textclean import clean_json, loads_untrusted

MAX_BODY_BYTES = 64 * 1024
SECRET_HEADER = "x-form-secret"  # noqa: S105 - a header name
SIGNATURE_HEADER = "x-form-signature"


async def raw_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY_BYTES (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, "form body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, "form body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def authentic(request: Request, raw: bytes, secret: str | None) -> bool:
    """The shared secret in its header, or an HMAC-SHA256 signature of the raw body with it."""
    if not secret:
        return False
    given = request.headers.get(SECRET_HEADER)
    if given is not None:
        return hmac.compare_digest(given.encode(), secret.encode())
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    if signature.lower().startswith("sha256="):
        signature = signature[len("sha256=") :]
    if not signature:
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.lower().encode(), expected.encode())


def parsed_body(request: Request, raw: bytes) -> Any:
    """The submission as JSON, or as the fields of an urlencoded form; 400 when neither."""
    ctype = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in ctype:
        return clean_json(dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"))))
    try:
        return loads_untrusted(raw)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid JSON") from None
