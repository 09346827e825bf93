"""What every provider client speaks: a provider-neutral outbound message and one error type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.send_errors import ProviderSendError

OutboundKind = Literal[
    "text", "image", "audio", "video", "document", "sticker", "template", "interactive", "reaction"
]


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send, independent of the provider."""

    to: str
    kind: OutboundKind = "text"
    text: str = ""
    media_id: str | None = None
    media_url: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    # template: {"name", "language", "components": [...]}; interactive: Meta's interactive object
    template: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    reaction_to: str | None = None
    reply_to: str | None = None
    preview_url: bool = False
    # echoed by the provider in status webhooks (Meta biz_opaque_callback_data)
    callback_data: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message."""

    provider_message_id: str | None
    raw: dict[str, Any] = field(default_factory=dict)


class ProviderClient(Protocol):
    """Sends messages through one provider."""

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult: ...

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None: ...


__all__ = ["OutboundKind", "OutboundMessage", "ProviderClient", "ProviderSendError", "SendResult"]
