"""Graph error classification: retry, permanent, bad credentials, Retry-After, no token leaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wacommon.providers.meta.errors import parse_retry_after
from wacommon.providers.meta.outbound import classify_graph_error

ERRORS = Path(__file__).resolve().parent.parent / "data" / "corpus" / "meta" / "errors"


def body(code: int | str, message: str = "x") -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "abc"}
    }


RETRYABLE = [130429, 131056, 80007, 4, 1, 2, 131000, 131016, 133004, 131057, 131048]
PERMANENT = [
    131047,
    131026,
    131030,
    100,
    131008,
    131009,
    131021,
    131049,
    131050,
    130472,
    132000,
    132001,
    132005,
    132007,
    132012,
    132015,
    132016,
    131031,
    368,
    131042,
    131045,
    3,
    10,
    200,
    230,
    299,
    131005,
    130497,
    133010,
    133000,
]


@pytest.mark.parametrize("code", RETRYABLE)
@pytest.mark.parametrize("status", [400, 429, 500])
def test_retryable_codes(code: int, status: int) -> None:
    err = classify_graph_error(status, body(code))
    assert err.retryable and not err.credentials_invalid and not err.ambiguous
    assert err.code == str(code) and err.http_status == status


@pytest.mark.parametrize("code", PERMANENT)
@pytest.mark.parametrize("status", [400, 403, 500])
def test_permanent_codes_even_on_5xx(code: int, status: int) -> None:
    err = classify_graph_error(status, body(code))
    assert not err.retryable and not err.credentials_invalid
    assert err.code == str(code)


@pytest.mark.parametrize("code", [190, 0])
def test_auth_codes_mark_credentials_invalid(code: int) -> None:
    err = classify_graph_error(401, body(code))
    assert not err.retryable and err.credentials_invalid


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (403, False),
        (404, False),
    ],
)
def test_unknown_code_falls_back_to_http_status(status: int, retryable: bool) -> None:
    assert classify_graph_error(status, body(987654)).retryable is retryable
    assert classify_graph_error(status, b"<html>bad gateway</html>").retryable is retryable


def test_unparseable_401_means_bad_credentials() -> None:
    err = classify_graph_error(401, "not json")
    assert err.credentials_invalid and not err.retryable and err.code is None


def test_code_given_as_string_is_understood() -> None:
    assert classify_graph_error(400, body("130429")).retryable


@pytest.mark.parametrize(
    ("name", "status", "retryable", "code", "creds"),
    [
        ("130429_rate_limit_hit.http_reconstructed.json", 400, True, "130429", False),
        ("131056_pair_rate_limit.http_reconstructed.json", 400, True, "131056", False),
        ("131030_recipient_not_in_allowed_list.http400.json", 400, False, "131030", False),
        ("190_access_token_expired.json", 401, False, "190", True),
        ("131047_reengagement.object.json", 400, False, "131047", False),
        ("131053_media_upload_error.object.json", 400, False, "131053", False),
        ("131053_media_upload_error.object.json", 502, True, "131053", False),
    ],
)
def test_corpus_error_bodies(
    name: str, status: int, retryable: bool, code: str, creds: bool
) -> None:
    raw = (ERRORS / name).read_bytes()
    for form in (raw, raw.decode(), json.loads(raw)):
        err = classify_graph_error(status, form)
        assert (err.retryable, err.code, err.credentials_invalid) == (retryable, code, creds)


def test_corpus_error_message_keeps_meta_details() -> None:
    raw = (ERRORS / "131030_recipient_not_in_allowed_list.http400.json").read_bytes()
    assert "Recipient phone number not in allowed list" in str(classify_graph_error(400, raw))


def test_syntax_placeholder_envelope_has_no_code() -> None:
    raw = (ERRORS / "graph_error_envelope.syntax.json").read_bytes()
    err = classify_graph_error(503, raw)
    assert err.code is None and err.retryable


def test_retry_after_header_is_used() -> None:
    assert classify_graph_error(429, body(130429), retry_after="7").retry_after == 7.0
    assert classify_graph_error(429, body(130429), retry_after=2.5).retry_after == 2.5
    assert classify_graph_error(400, body(130429)).retry_after is None


def test_maintenance_code_defaults_to_a_minute() -> None:
    assert classify_graph_error(400, body(131057)).retry_after == 60.0


def test_retry_after_http_date_and_garbage() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


def test_token_never_in_the_error_message() -> None:
    token = "EAAG" + "x" * 40
    msg = f"Invalid token {token} used; Authorization: Bearer {token}"
    err = classify_graph_error(401, body(190, msg), secret=token)
    assert token not in str(err)
    short = "plain-short-token"
    err = classify_graph_error(400, body(100, f"bad {short}"), secret=short)
    assert short not in str(err)
