"""The web sandbox's "provider": every send is accepted at once, nothing leaves the machine.

Conversations of the console's "Testar o bot" page go through the sender like any other
(claim, rate limit, record, receipts); this client stands in for WhatsApp at the last
step, so the page shows a reply only once the sender has delivered it.
"""

from __future__ import annotations

import uuid

from wacommon.broker.schemas import Provider
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import OutboundMessage, SendResult


def sandbox_credentials(tenant_id: str) -> ProviderCredentials:
    """A tenant's sandbox channel: nothing to authenticate, paced apart from its numbers."""
    return ProviderCredentials(Provider.SANDBOX.value, tenant_id, None, {}, source="sandbox")


class SandboxClient:
    """Accepts every message with a fresh id; marks nothing read."""

    async def send(self, creds: ProviderCredentials, message: OutboundMessage) -> SendResult:
        return SendResult(f"sandbox.{uuid.uuid4().hex}", {"to": message.to, "kind": message.kind})

    async def mark_read(
        self,
        creds: ProviderCredentials,
        provider_message_id: str,
        *,
        chat: str | None = None,
        typing: bool = False,
    ) -> None:
        return None
