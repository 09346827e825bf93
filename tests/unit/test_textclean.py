"""Whatever text a body carries, what `loads_untrusted` returns is storable by PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from wacommon.infra.textclean import clean_text, loads_untrusted, storable_text

# every code point, lone surrogates and U+0000 included
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@given(JSON, st.booleans())
def test_every_string_of_a_decoded_body_is_storable(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only)
    raw = body.encode("utf-8", "surrogatepass") if not ascii_only else body.encode()
    decoded = loads_untrusted(raw if ascii_only else body)
    assert all(storable(s) for s in strings(decoded))


@given(ANY_TEXT)
def test_clean_text_keeps_what_was_storable(text: str) -> None:
    cleaned = clean_text(text)
    assert storable(cleaned)
    if storable(text):
        assert cleaned == text
    assert storable(storable_text(text))


def test_what_is_removed_and_replaced() -> None:
    assert clean_text("a\x00b\ud800c\udfffd") == "ab\ufffdc\ufffdd"
    assert loads_untrusted(b'{"t": "x\\u0000y\\uD83D"}') == {"t": "xy\ufffd"}
    # a valid pair written as escapes is one character, kept
    assert loads_untrusted(b'{"t": "\\ud83d\\ude00"}') == {"t": "\U0001f600"}
