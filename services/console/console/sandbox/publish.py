"""A typed message into the pipeline, the way a provider webhook enters it.

Published to the ingest exchange with a broker confirm (`Publisher.publish` returns only
once the broker has it), so the owner is told "sent" only for a message that will be
processed; the page's own message id makes a retried post the same message (the ingest
stores a provider message id once), so nothing is lost or doubled.
"""

from __future__ import annotations

from wacommon.broker.publisher import Publisher, PublishFailed
from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.broker.topology import INGEST
from wacommon.providers.sandbox import SandboxWebhook


class NotPublished(Exception):
    """The broker did not take the message: the page keeps it for another try."""


async def publish_typed(publisher: Publisher | None, tenant_id: str, body: SandboxWebhook) -> None:
    if publisher is None:
        raise NotPublished("no broker connection")
    message = WebhookReceived(
        provider=Provider.SANDBOX,
        tenant_id=tenant_id,
        instance_id=None,
        correlation_id=f"sandbox-{body.id}",
        body=body.model_dump_json(),
    )
    try:
        await publisher.publish(message, exchange=INGEST)
    except PublishFailed as exc:
        raise NotPublished(str(exc)) from exc
