"""What the rag-worker handlers talk to, built once by `main.bootstrap` (tests pass fakes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from rag_worker.burst_media import MediaProcessor
from rag_worker.voice_reply import VoiceReplies
from waai.responders.responder import Responder, Tenant
from wacommon.broker.notify import Notifier, NullNotifier
from wacommon.broker.publisher import Publisher
from wacommon.infra.crypto import SecretBox
from wacommon.metrics.prices import ModelPrice, default_prices
from wacommon.repositories.events import EventLog
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory


@dataclass
class RagDeps:
    """What the rag-worker handlers talk to."""

    pool: asyncpg.Pool
    publisher: Publisher
    events: EventLog
    secrets: SecretBox
    responder_for: Callable[[Tenant], Responder]
    process_media: MediaProcessor | None = None
    # each tenant's history window as last read: lets the next burst read its context,
    # burst and history in one statement (checked against the tenant row it reads)
    history_windows: dict[str, tuple[int, float]] = field(default_factory=dict)
    # live console notifications, after each commit (never raises)
    notifier: Notifier = field(default_factory=NullNotifier)
    # text-to-speech for tenants with voice replies (None: replies stay text)
    voice: VoiceReplies | None = None
    # every tenant's configuration; None: read from `pool` on every burst (tests)
    tenants: TenantDirectory | None = None
    # `tenants`, or the database read on every use when none was given
    tenant_directory: TenantDirectory = field(init=False)
    # prices each turn's `turn_quality` cost (the metrics' table) and turns it into reais
    prices: dict[str, ModelPrice] = field(default_factory=default_prices)
    usd_brl: float = 5.40

    def __post_init__(self) -> None:
        given = self.tenants
        self.tenant_directory = (
            given if given is not None else PgTenantDirectory(self.pool, self.secrets)
        )
