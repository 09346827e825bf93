"""What the sender handlers talk to, with the short-lived caches of what every send reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg

from sender.clients.sandbox import sandbox_credentials
from sender.ratelimit import RateLimiter, UazapiPacer
from sender.receipts import NoReceipts, Receipts
from wacommon.broker.notify import Notifier, NullNotifier
from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import Provider
from wacommon.infra.cache import TTLCache
from wacommon.infra.crypto import SecretBox
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.outbound import ProviderClient
from wacommon.repositories import providers as providers_repo
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory

LOOKUP_TTL_S = 5.0
# event-loop scheduling between the claim's commit and the deadline clock (measured locally
# from before the claim statement, so this only covers clock-rate differences and slack)
TAKEOVER_MARGIN_S = 0.25


class InconsistentSendTiming(ValueError):
    """The takeover window is not longer than what one claimed send may take."""


def check_send_timing(reconcile_s: float, http_timeout_s: float, record_for_s: float) -> None:
    """Refuse a takeover window a live sender could still be inside.

    A claimed row is resolved (sent, failed, pending, unknown) at the latest
    `http_timeout_s` (the provider call's deadline, counted from the claim) plus
    `record_for_s` (the record's own deadline) after its claim; only then may another
    sender take it over, so `reconcile_s` must be longer than both together.
    """
    if min(reconcile_s, http_timeout_s, record_for_s) <= 0:
        raise InconsistentSendTiming("send timings must be positive")
    floor = http_timeout_s + record_for_s + TAKEOVER_MARGIN_S
    if reconcile_s < floor:
        raise InconsistentSendTiming(
            f"SEND_RECONCILE_S={reconcile_s:g} must be at least SEND_HTTP_TIMEOUT_S"
            f" ({http_timeout_s:g}) + SEND_RECORD_TIMEOUT_S ({record_for_s:g})"
            f" + {TAKEOVER_MARGIN_S:g} = {floor:g}: a live sender could be taken over"
            " and the message sent twice"
        )


@dataclass
class SenderDeps:
    """What the sender handlers talk to."""

    pool: asyncpg.Pool
    secrets: SecretBox
    clients: Mapping[str, ProviderClient]
    limiter: RateLimiter
    # the takeover window of a `sending` row (SEND_RECONCILE_S)
    reconcile_s: float = 60.0
    # the provider call's deadline, counted from the claim (SEND_HTTP_TIMEOUT_S)
    http_timeout_s: float = 15.0
    # how long an accepted send's record is retried (SEND_RECORD_TIMEOUT_S)
    record_for_s: float = 30.0
    pacer: UazapiPacer | None = None
    # credentials change rarely and are read for every send
    credentials: TTLCache[tuple[str, str, str | None], ProviderCredentials] = field(
        default_factory=lambda: TTLCache(LOOKUP_TTL_S)
    )
    # every tenant's configuration; None: read from `pool` on every send (tests)
    tenants: TenantDirectory | None = None
    # `tenants`, or the database read on every use when none was given
    tenant_directory: TenantDirectory = field(init=False)
    # live console notifications, after each commit (never raises)
    notifier: Notifier = field(default_factory=NullNotifier)
    # a provider's acceptance kept in Redis until the row records it (see receipts.py)
    receipts: Receipts = field(default_factory=NoReceipts)
    # sends the next waiting reply of a conversation on when one finishes (None: the relay does)
    publisher: Publisher | None = None

    def __post_init__(self) -> None:
        check_send_timing(self.reconcile_s, self.http_timeout_s, self.record_for_s)
        given = self.tenants
        self.tenant_directory = (
            given if given is not None else PgTenantDirectory(self.pool, self.secrets)
        )

    async def credentials_for(
        self, tenant_id: str, provider: str, instance_id: str | None
    ) -> ProviderCredentials:
        """The instance's credentials (or the tenant's resolved ones), cached briefly."""
        if provider == Provider.SANDBOX.value:
            return sandbox_credentials(tenant_id)
        return await self.credentials.get(
            (tenant_id, provider, instance_id),
            lambda: providers_repo.load_credentials(
                self.pool, self.secrets, tenant_id, provider, instance_id
            ),
        )
