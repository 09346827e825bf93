"""Settings of meta-gateway (the shared settings: Meta's app secret, verify token, Graph URL)."""

from __future__ import annotations

from wacommon.infra.settings import Settings


class GatewaySettings(Settings):
    """Shared settings under the gateway's name (its port, its logs)."""

    service_name: str = "meta-gateway"
