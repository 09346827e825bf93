"""Errors of a model call, in the worker's taxonomy."""

from __future__ import annotations

from wacommon.errors import PermanentError, RetryableError


class LLMUnavailable(RetryableError):
    """The model did not answer (timeout, connection, rate limit, 5xx): retry later."""


class LLMRejected(PermanentError):
    """The model refused the request (bad key, unknown model, invalid request)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        # the provider's HTTP status: 401/403/404 say the tenant's model is misconfigured
        self.status = status
