"""Settings of the followup service (shared settings plus the scan's own)."""

from __future__ import annotations

from wacommon.infra.settings import Settings


class FollowupSettings(Settings):
    """`FOLLOWUP_*` and `REMINDER_*` environment variables tune the scans."""

    service_name: str = "followup"
    # seconds between scans (handover timeouts, follow-ups, reminders)
    followup_interval_s: float = 300.0
    # rows claimed per statement; a scan repeats claims until nothing is due
    followup_batch: int = 500
    # a claimed row belongs to this scan for so long; after a crash it becomes due again
    followup_lease_s: float = 300.0
    # claimed rows written and published concurrently (each may wait on an LLM)
    followup_concurrency: int = 8
    # a human handover postpones a due reminder by this much, up to reminder_max_delay_s
    reminder_retry_s: float = 900.0
    reminder_max_delay_s: float = 86400.0
