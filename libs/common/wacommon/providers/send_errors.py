"""The one error type provider calls raise, classified as retryable or not."""

from __future__ import annotations


class ProviderSendError(Exception):
    """The provider refused or failed; `retryable` says whether trying later can help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        # the token or instance is broken: mark the provider instance unhealthy
        credentials_invalid: bool = False,
        # the send may have happened (timeout after the request went out)
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.credentials_invalid = credentials_invalid
        self.ambiguous = ambiguous


__all__ = ["ProviderSendError"]
