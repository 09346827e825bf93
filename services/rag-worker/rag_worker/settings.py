"""Settings of the rag-worker (the shared settings; its AI settings are `waai.llm.config`)."""

from __future__ import annotations

from wacommon.infra.settings import Settings


class RagWorkerSettings(Settings):
    """Shared settings under the rag-worker's name (its port, its logs)."""

    service_name: str = "rag-worker"
