"""What the ingest handlers talk to, built once by `main.bootstrap` (tests pass fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from lancepilot_ingest.debounce import Debouncer
from wacommon.broker.notify import Notifier, NullNotifier
from wacommon.broker.publisher import Publisher
from wacommon.infra.cache import TTLCache
from wacommon.infra.crypto import SecretBox
from wacommon.repositories.events import EventLog
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory

LOOKUP_TTL_S = 5.0


@dataclass
class IngestDeps:
    """What the ingest handlers talk to."""

    pool: asyncpg.Pool
    publisher: Publisher
    events: EventLog
    debouncer: Debouncer
    secrets: SecretBox
    # every tenant's configuration; None: read from `pool` on every message (tests)
    tenants: TenantDirectory | None = None
    # `tenants`, or the database read on every use when none was given
    tenant_directory: TenantDirectory = field(init=False)
    # routing rows change rarely and are read for every message
    routes: TTLCache[tuple[str | None, str | None], dict[str, Any] | None] = field(
        default_factory=lambda: TTLCache(LOOKUP_TTL_S)
    )
    # live console notifications, after each commit (never raises)
    notifier: Notifier = field(default_factory=NullNotifier)

    def __post_init__(self) -> None:
        given = self.tenants
        self.tenant_directory = (
            given if given is not None else PgTenantDirectory(self.pool, self.secrets)
        )
