"""Errors of the provider wire layer, shared by the Meta, Uazapi and LancePilot parsers."""

from __future__ import annotations


class InvalidWebhookPayload(ValueError):
    """A webhook body that is not a known envelope; `reason` goes back in the 400 answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidWebhookSignature(Exception):
    """A webhook body whose signature does not match (answer 403)."""
