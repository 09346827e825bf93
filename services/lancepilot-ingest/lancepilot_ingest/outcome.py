"""What processing one inbound message decided, and the debounce window it gets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from lancepilot_ingest.bursts import DebounceConfig
from wacommon.broker.schemas import Provider
from wacommon.tenants.sections.inbound import DebounceSection

# Meta delivers each message alone and customers expect a quick answer there
META_DEFAULT_QUIET_MS = 2000


@dataclass
class InboundOutcome:
    """What processing one inbound message decided, acted on after the commit."""

    stored_id: int | None = None
    conversation_id: str | None = None
    buffer: bool = False
    outbound_ids: list[int] = field(default_factory=list)
    reason: str = ""
    debounce: DebounceConfig | None = None
    text: str = ""
    at: datetime | None = None


def debounce_config(provider: Provider, section: DebounceSection | None) -> DebounceConfig:
    """The tenant's debounce settings; Meta defaults to a shorter quiet window."""
    config = DebounceConfig.from_section(section)
    if provider is Provider.META and section is None:
        config = dataclasses.replace(config, quiet_ms=META_DEFAULT_QUIET_MS)
    return config
