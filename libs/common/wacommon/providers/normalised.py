"""Provider-neutral results of webhook parsing, before the tenant is known."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wacommon.broker.schemas import (
    Contact,
    InboundMessage,
    MediaRef,
    MessageKind,
    Provider,
    SenderRole,
)

_NON_DIGITS = re.compile(r"\D")


def digits(value: object) -> str | None:
    """The digits of a phone number or a `<digits>@s.whatsapp.net` JID; None when empty."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).split("@", 1)[0].split(":", 1)[0]
    only = _NON_DIGITS.sub("", text)
    return only or None


def text_of(value: object) -> str | None:
    """A non-empty string, else None (providers send "" for absent fields)."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def as_dict(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def number(value: object) -> float | None:
    """A JSON number as float (booleans and strings are not numbers here)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def epoch_to_datetime(value: object) -> datetime | None:
    """Epoch seconds or milliseconds (numbers or numeric strings) as an aware datetime."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    # below 1e11 it cannot be milliseconds of any date after 1973
    seconds = number / 1000 if number >= 1e11 else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class ParsedMessage:
    """One message read from a webhook; `to_inbound` adds the tenant once it is resolved."""

    provider: Provider
    contact: Contact
    provider_message_id: str
    kind: MessageKind
    sent_at: datetime
    sender: SenderRole = SenderRole.CUSTOMER
    text: str = ""
    media: MediaRef | None = None
    reply_to: str | None = None
    is_group: bool = False
    # our own API send echoed back by the provider: already stored, nothing to do
    own_echo: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_inbound(self, tenant_id: str, instance_id: str | None) -> InboundMessage:
        """The normalised pipeline message for `tenant_id`."""
        return InboundMessage(
            provider=self.provider,
            instance_id=instance_id,
            tenant_id=tenant_id,
            contact=self.contact,
            provider_message_id=self.provider_message_id,
            kind=self.kind,
            text=self.text,
            media=self.media,
            sent_at=self.sent_at,
            sender=self.sender,
            reply_to=self.reply_to,
            is_group=self.is_group,
            attributes=dict(self.attributes),
            raw=self.raw,
        )


@dataclass(frozen=True)
class IgnoredEvent:
    """A webhook that carries no conversation message (connection, presence, groups, ...)."""

    name: str
    detail: dict[str, Any] = field(default_factory=dict)


def stable_id(prefix: str, payload: object) -> str:
    """A deterministic id for a body that carries none: duplicates of it get the same id."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return f"{prefix}{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"
