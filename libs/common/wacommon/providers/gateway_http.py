"""HTTP calls and error classification shared by the Uazapi and LancePilot clients.

401/403: permanent, the token is broken (mark the instance unhealthy). 429, 408 and 5xx:
retryable. Other 4xx: permanent. Network errors: retryable; ambiguous when the request
may have reached the provider. Tokens never appear in the errors raised here.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from wacommon.providers.outbound import ProviderSendError

# httpx errors raised before any byte of the request left: safe to resend
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


async def call_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one request; the JSON object answered, or ProviderSendError."""
    try:
        resp = await http.request(method, url, headers=headers, json=body)
    except _NOT_SENT as exc:
        raise ProviderSendError(
            f"{provider}: connection failed ({type(exc).__name__})",
            retryable=True,
            code="network",
        ) from None
    except httpx.HTTPError as exc:
        raise ProviderSendError(
            f"{provider}: request failed ({type(exc).__name__})",
            retryable=True,
            code="network",
            ambiguous=True,
        ) from None
    if resp.status_code >= 400:
        raise classify_status(resp, provider)
    try:
        answer = resp.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {"data": answer}


def classify_status(resp: httpx.Response, provider: str) -> ProviderSendError:
    """The ProviderSendError an HTTP error answer means."""
    status = resp.status_code
    detail = _detail(resp)
    message = f"{provider}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return ProviderSendError(
            message,
            retryable=False,
            code="unauthorized",
            http_status=status,
            credentials_invalid=True,
        )
    if status == 429:
        return ProviderSendError(
            message,
            retryable=True,
            code="rate_limited",
            http_status=status,
            retry_after=retry_after_seconds(resp.headers.get("retry-after")),
        )
    if status >= 500 or status == 408:
        return ProviderSendError(message, retryable=True, code="server_error", http_status=status)
    code = "not_found" if status == 404 else "bad_request"
    return ProviderSendError(message, retryable=False, code=code, http_status=status)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _detail(resp: httpx.Response) -> str:
    try:
        answer = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(answer, dict):
        for key in ("error", "message", "detail"):
            if isinstance(answer.get(key), str):
                return str(answer[key])[:200]
    return ""
