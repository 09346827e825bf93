"""Meta webhook checks before parsing: signature, subscription handshake, envelope shape."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from wacommon.providers.errors import InvalidWebhookPayload, InvalidWebhookSignature

SIGNATURE_PREFIX = "sha256="
ENVELOPE_OBJECT = "whatsapp_business_account"


__all__ = [
    "HandshakeRejected",
    "InvalidWebhookPayload",
    "InvalidWebhookSignature",
    "MissingWebhookSignature",
    "check_envelope",
    "check_handshake",
    "sign",
    "verify_signature",
]


class MissingWebhookSignature(InvalidWebhookSignature):
    """No X-Hub-Signature-256 header at all (answer 401)."""


class HandshakeRejected(Exception):
    """A GET subscription handshake with the wrong mode or verify token (answer 403)."""


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Check `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret)."""
    if not header:
        raise MissingWebhookSignature("missing X-Hub-Signature-256")
    if not header.startswith(SIGNATURE_PREFIX):
        raise InvalidWebhookSignature("signature header without sha256= prefix")
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise InvalidWebhookSignature("signature mismatch")


def sign(raw_body: bytes, app_secret: str) -> str:
    """The header value Meta would send for this body (tests, fakes, benchmarks)."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def check_handshake(
    mode: str | None, verify_token: str | None, challenge: str | None, expected_token: str
) -> str:
    """Validate the GET handshake; return the challenge to echo verbatim as text/plain."""
    if mode != "subscribe" or challenge is None or not verify_token or not expected_token:
        raise HandshakeRejected("bad handshake parameters")
    if not hmac.compare_digest(verify_token.encode(), expected_token.encode()):
        raise HandshakeRejected("verify token mismatch")
    return challenge


def check_envelope(payload: object) -> dict[str, Any]:
    """Cheap shape check for the hot path: a WABA envelope with an `entry` list."""
    if not isinstance(payload, dict):
        raise InvalidWebhookPayload("body is not a JSON object")
    if payload.get("object") != ENVELOPE_OBJECT:
        raise InvalidWebhookPayload("object is not whatsapp_business_account")
    if not isinstance(payload.get("entry"), list):
        raise InvalidWebhookPayload("entry is not a list")
    return payload
