"""Secrets never reach logs: redaction by key name and by value shape."""

from __future__ import annotations

import io
import json
import sys

import structlog

from wacommon.infra.logging import REDACTED, configure_logging, redact
from wacommon.infra.settings import Settings


def test_values_under_secret_keys_are_masked_at_any_depth() -> None:
    out = redact(
        {
            "config": {"access_token": "EAAxyz", "phone_id": "123"},
            "headers": [{"Authorization": "Bearer abc"}],
            "api_key": "k",
            "ok": True,
        }
    )
    assert out["config"] == {"access_token": REDACTED, "phone_id": "123"}
    assert out["headers"] == REDACTED  # header values are secrets whatever their names
    assert out["api_key"] == REDACTED and out["ok"] is True


def test_tool_header_maps_are_masked_whatever_the_header_name() -> None:
    out = redact({"crm": {"webhook_headers": {"X-Loja": "plain-value"}}, "tool": "pedidos"})
    assert out == {"crm": {"webhook_headers": REDACTED}, "tool": "pedidos"}


def test_secret_shaped_strings_are_masked_in_free_text() -> None:
    text = (
        "call failed: Authorization: Bearer abcdefghijklmnop token EAABsbCS1iHgBAZCZCJ1234567890abc "
        "key sk-proj-ABCDEFGHIJKLMNOPQRST gemini AIzaSyA1234567890abcdefghijklmn "
        "amqp://guest:hunter2@rabbit:5672/"
    )
    masked = redact(text)
    for secret in (
        "abcdefghijklmnop",
        "EAABsbCS1iHgBAZCZCJ1234567890abc",
        "sk-proj-ABCDEFGHIJKLMNOPQRST",
        "AIzaSyA1234567890abcdefghijklmn",
        "hunter2",
    ):
        assert secret not in masked
    assert "amqp://guest:" in masked and "@rabbit" in masked


def test_configured_logger_writes_json_without_the_secret(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    structlog.reset_defaults()
    configure_logging(Settings(_env_file=None, log_format="json", service_name="t"))  # type: ignore[call-arg]
    structlog.get_logger("t").info("provider_called", token="s3cr3t-token", url="https://x", n=1)
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    structlog.reset_defaults()
    assert line["event"] == "provider_called" and line["token"] == REDACTED
    assert line["url"] == "https://x" and line["service"] == "t"
    assert "s3cr3t-token" not in buffer.getvalue()
