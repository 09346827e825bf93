"""Graph API error bodies to ProviderSendError, classified by Meta's error code.

Meta's advice: decide on `error.code`, not on the HTTP status (throttling comes as
400 as often as 429). The HTTP status only decides when the code is unknown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from wacommon.infra.logging import redact_text
from wacommon.providers.send_errors import ProviderSendError

THROTTLED = frozenset({130429, 131056, 80007, 4})
TEMPORARY = frozenset({1, 2, 131000, 131016, 133004, 131057, 131048})
CREDENTIALS = frozenset({0, 190})
PERMANENT = frozenset(
    {
        3,
        10,
        100,
        368,
        130472,
        130497,
        131005,
        131008,
        131009,
        131021,
        131026,
        131030,
        131031,
        131042,
        131045,
        131047,
        131049,
        131050,
        133000,
        133010,
    }
)
# waits Meta documents when it gives no Retry-After (131057: maintenance, about a minute)
DEFAULT_WAIT = {131057: 60.0, 131048: 300.0}


def error_code(body: object) -> int | None:
    """`error.code` of a Graph error body (dict, JSON text or bytes), if any."""
    err = _error(body)
    code = err.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def is_retryable_code(code: int | None, http_status: int) -> bool:
    """Whether trying again later can succeed."""
    if code in THROTTLED or code in TEMPORARY:
        return True
    if code in CREDENTIALS or code in PERMANENT or _is_permanent_range(code):
        return False
    return http_status >= 500 or http_status in (408, 429)


def classify_graph_error(
    status: int,
    body: object,
    *,
    retry_after: str | float | None = None,
    secret: str | None = None,
) -> ProviderSendError:
    """Turn a non-2xx Graph answer into a ProviderSendError (never carrying the token)."""
    err = _error(body)
    code = error_code(body)
    credentials_invalid = code in CREDENTIALS or (code is None and status == 401)
    retryable = not credentials_invalid and is_retryable_code(code, status)
    wait = parse_retry_after(retry_after)
    if wait is None and retryable and code is not None:
        wait = DEFAULT_WAIT.get(code)
    title = err.get("message") or err.get("error_user_title") or err.get("type") or ""
    details = (
        err.get("error_data", {}).get("details")
        if isinstance(err.get("error_data"), dict)
        else None
    )
    text = f"meta graph error {code if code is not None else '-'} (http {status}): {title}"
    if details:
        text += f" - {details}"
    text = redact_text(text[:500])
    if secret:
        text = text.replace(secret, "[REDACTED]")
    return ProviderSendError(
        text,
        retryable=retryable,
        code=str(code) if code is not None else None,
        http_status=status,
        retry_after=wait,
        credentials_invalid=credentials_invalid,
    )


def parse_retry_after(value: str | float | None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or HTTP date)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _is_permanent_range(code: int | None) -> bool:
    return code is not None and (132000 <= code <= 132999 or 200 <= code <= 299)


def _error(body: object) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    if not isinstance(body, dict):
        return {}
    err = body.get("error", body)  # accept the bare errors[] object too
    return err if isinstance(err, dict) else {}
