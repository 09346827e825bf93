"""Errors of a model call, in the worker's taxonomy."""

from __future__ import annotations

from wacommon.errors import PermanentError, RetryableError


class LLMUnavailable(RetryableError):
    """The model did not answer (timeout, connection, rate limit, 5xx): retry later."""


class LLMRejected(PermanentError):
    """The model refused the request (bad key, unknown model, invalid request)."""
