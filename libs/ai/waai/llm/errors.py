"""Errors of a model call, in the worker's taxonomy."""

from __future__ import annotations

import httpx
import httpx2

from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.infra.netguard import AddressBlocked

# what a failed connection raises from the Gemini SDK: httpx2 on its own client, httpx on
# the guarded one the worker hands it (waai.llm.clients)
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)


class LLMUnavailable(RetryableError):
    """The model did not answer (timeout, connection, rate limit, 5xx): retry later."""


class LLMRejected(PermanentError):
    """The model refused the request (bad key, unknown model, invalid request)."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        # the provider's HTTP status: 401/403/404 say the tenant's model is misconfigured
        self.status = status
        # set when no HTTP status says why (a base URL the network guard refused)
        self.reason = reason


def blocked_by_guard(exc: BaseException) -> bool:
    """Whether the network guard (wacommon.infra.netguard) refused the connection under `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressBlocked):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
