"""What the metrics routes talk to, built once by `main.bootstrap` (tests pass their pool)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from metrics.auth import KeyResolver
from metrics.settings import MetricsSettings
from wacommon.service.runtime import Runtime


@dataclass
class MetricsDeps:
    """What the metrics routes talk to."""

    settings: MetricsSettings
    pool: asyncpg.Pool
    # tenant API keys (and the admin token) to the tenant they read for
    resolver: KeyResolver
    # None in tests that serve the app without the broker and Redis
    runtime: Runtime | None = None
