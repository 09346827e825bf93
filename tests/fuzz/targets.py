"""The HTTP services the fuzzer drives: one line each (name, settings class, app builder).

Every builder is the one the service's `main` serves, so the fuzzer sees the real routes,
middleware and fast paths. Adding a service is one `Target(...)` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp

from followup.main import build_app as followup_app
from followup.settings import FollowupSettings
from lancepilot_ingest.main import build_app as ingest_app
from lancepilot_ingest.settings import IngestSettings
from meta_gateway.main import build_app as gateway_app
from meta_gateway.settings import GatewaySettings
from metrics.main import build_app as metrics_app
from metrics.settings import MetricsSettings
from rag_worker.main import build_app as rag_app
from rag_worker.settings import RagWorkerSettings
from sender.main import build_app as sender_app
from sender.settings import SenderSettings
from wacommon.infra.settings import Settings
from wacommon.service.runtime import Runtime


@dataclass(frozen=True)
class Target:
    """One service: its settings class, whether it talks to the broker, its app builder."""

    name: str
    settings_class: type[Settings]
    build: Callable[[Runtime], ASGIApp]
    broker: bool = True


TARGETS: tuple[Target, ...] = (
    Target("meta-gateway", GatewaySettings, gateway_app),
    Target("lancepilot-ingest", IngestSettings, ingest_app),
    Target("rag-worker", RagWorkerSettings, rag_app),
    Target("sender", SenderSettings, sender_app),
    Target("followup", FollowupSettings, followup_app),
    Target("metrics", MetricsSettings, metrics_app, broker=False),
)
