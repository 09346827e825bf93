"""Untrusted text made storable: PostgreSQL refuses some strings that JSON allows.

`text` and `jsonb` cannot hold U+0000, and no UTF-8 encoding exists for a lone
surrogate (`"\\ud800"` is valid JSON for Python's decoder, and WhatsApp users
can send both). Webhook bodies go through `loads_untrusted`, which cleans every
string once at the boundary, so nothing downstream (the message text, the raw
payload kept as jsonb, the event log) meets them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# in a JSON text both can only arrive as escapes (a raw U+0000 is not valid JSON and a
# surrogate has no UTF-8 form): a body without these escapes needs no walk over its strings
_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def clean_text(value: str) -> str:
    """`value` without NUL characters and with lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if _SURROGATE.search(value) is not None:
        value = _SURROGATE.sub(REPLACEMENT, value)
    return value


def clean_json(value: Any) -> Any:
    """`value` with every string (object keys included) passed through `clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def loads_untrusted(raw: bytes | str) -> Any:
    """Decode a JSON body from outside and clean its strings.

    orjson refuses lone surrogate escapes; the standard decoder accepts them, so
    such a body is decoded (then cleaned) rather than refused whole. Raises
    `ValueError` (json.JSONDecodeError) when the body is not JSON at all.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = json.loads(data.decode("utf-8", "replace"))
    return clean_json(value) if _ESCAPE.search(data) is not None else value


def storable_text(value: str) -> str:
    """Evidence text for a side table: NUL and lone surrogates kept visible as escapes."""
    return value.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
