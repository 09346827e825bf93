"""The error taxonomy: consumers map these to ack, retry or dead-letter; the edges to HTTP."""

from __future__ import annotations


class RetryableError(Exception):
    """A transient failure: retry the message later with back-off."""


class PermanentError(Exception):
    """Retrying will not help: dead-letter the message and log once."""


class CredentialNotFound(PermanentError):
    """No active provider instance and no legacy credentials for a tenant."""


class InvalidWebhookSignature(Exception):
    """A webhook body whose signature does not match."""


class RouteTaken(Exception):
    """A provider instance would take a number (route key) another active instance owns."""
