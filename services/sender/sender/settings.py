"""Settings of the sender (the shared settings: its `SEND_*` timings are read by every service)."""

from __future__ import annotations

from wacommon.infra.settings import Settings


class SenderSettings(Settings):
    """Shared settings under the sender's name (its port, its logs)."""

    service_name: str = "sender"
