"""What the sender handlers talk to, with the short-lived caches of what every send reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from sender.clients.base import ProviderClient
from sender.ratelimit import RateLimiter, UazapiPacer
from wacommon.cache import TTLCache
from wacommon.credentials import ProviderCredentials
from wacommon.crypto import SecretBox
from wacommon.events import EventLog
from wacommon.notify import Notifier, NullNotifier
from wacommon.repositories import providers as providers_repo

LOOKUP_TTL_S = 5.0


@dataclass
class SenderDeps:
    """What the sender handlers talk to."""

    pool: asyncpg.Pool
    events: EventLog
    secrets: SecretBox
    clients: Mapping[str, ProviderClient]
    limiter: RateLimiter
    reconcile_s: float = 60.0
    pacer: UazapiPacer | None = None
    # credentials and tenant switches change rarely and are read for every send
    credentials: TTLCache[tuple[str, str, str | None], ProviderCredentials] = field(
        default_factory=lambda: TTLCache(LOOKUP_TTL_S)
    )
    tools: TTLCache[str, dict[str, Any]] = field(default_factory=lambda: TTLCache(LOOKUP_TTL_S))
    # live console notifications, after each commit (never raises)
    notifier: Notifier = field(default_factory=NullNotifier)

    async def credentials_for(
        self, tenant_id: str, provider: str, instance_id: str | None
    ) -> ProviderCredentials:
        """The instance's credentials (or the tenant's resolved ones), cached briefly."""
        return await self.credentials.get(
            (tenant_id, provider, instance_id),
            lambda: providers_repo.load_credentials(
                self.pool, self.secrets, tenant_id, provider, instance_id
            ),
        )
