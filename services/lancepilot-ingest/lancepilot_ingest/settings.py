"""Settings of lancepilot-ingest (the shared settings; its debounce reads the tenant's own)."""

from __future__ import annotations

from wacommon.infra.settings import Settings


class IngestSettings(Settings):
    """Shared settings under the ingest's name (its port, its logs)."""

    service_name: str = "lancepilot-ingest"
