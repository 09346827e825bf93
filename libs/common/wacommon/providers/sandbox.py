"""The web sandbox's "webhook": what the console's "Testar o bot" page publishes.

The console plays the provider: an owner's typed message becomes one `SandboxWebhook`
body, published to the ingest exchange as `webhook.sandbox.v1` with the tenant named by
the signed-in session. From there it takes the production path (store once, rules,
debounce, rag-worker, sender), the sender's sandbox client standing in for WhatsApp.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from wacommon.broker.schemas import Contact, InboundMessage, MessageKind, Provider, utcnow
from wacommon.web.api_types import NUL_FREE

# a sandbox customer's contact key: never a phone number, never another provider's id
CONTACT_PREFIX = "SANDBOX:"
CONTACT_PATTERN = re.compile(r"^SANDBOX:[0-9a-f]{12,32}$")
MAX_TEXT = 4000


class SandboxWebhook(BaseModel):
    """One message typed by the owner as a test customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # chosen by the page, once per typed message: a retried post is the same message
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{8,100}$")
    contact: str = Field(pattern=CONTACT_PATTERN.pattern)
    name: str | None = Field(default=None, max_length=100)
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NUL_FREE)
    sent_at: datetime = Field(default_factory=utcnow)


def provider_message_id(body: SandboxWebhook) -> str:
    return f"sandbox.{body.id}"


def to_inbound(body: SandboxWebhook, tenant_id: str) -> InboundMessage:
    """The stored shape of the typed message (a customer's text on the sandbox channel)."""
    return InboundMessage(
        provider=Provider.SANDBOX,
        tenant_id=tenant_id,
        contact=Contact(key=body.contact, name=body.name),
        provider_message_id=provider_message_id(body),
        kind=MessageKind.TEXT,
        text=body.text,
        sent_at=body.sent_at,
    )
