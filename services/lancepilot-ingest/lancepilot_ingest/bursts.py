"""Bursts: a tenant's debounce window, a burst of messages and its stable id."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from wacommon.tenants.sections.inbound import DebounceSection


@dataclass(frozen=True)
class DebounceConfig:
    """A tenant's debounce window (milliseconds); quiet 0 turns debouncing off."""

    quiet_ms: int = 6000
    max_wait_ms: int = 30000
    max_burst: int = 20
    flush_keywords: tuple[str, ...] = ()

    @classmethod
    def from_section(cls, section: DebounceSection | None) -> DebounceConfig:
        """The tenant's `debounce` section (seconds) in milliseconds, over the defaults."""
        default = cls()
        if section is None:
            return default
        quiet = _seconds_ms(section.quiet_seconds, default.quiet_ms)
        max_wait = _seconds_ms(section.max_wait_seconds, default.max_wait_ms)
        max_burst = section.max_burst if section.max_burst is not None else default.max_burst
        return cls(quiet, max(max_wait, quiet), max_burst, section.flush_keywords)

    def is_flush_keyword(self, text: str) -> bool:
        """True when the text contains one of the flush keywords as a whole word or phrase."""
        folded = text.casefold()
        return any(_keyword_re(k).search(folded) for k in self.flush_keywords)


def _seconds_ms(seconds: float | None, default_ms: int) -> int:
    return max(0, round(seconds * 1000)) if seconds is not None else default_ms


def _keyword_re(keyword: str) -> re.Pattern[str]:
    left = r"(?<!\w)" if keyword[:1].isalnum() else ""
    right = r"(?!\w)" if keyword[-1:].isalnum() else ""
    return re.compile(left + re.escape(keyword) + right)


@dataclass(frozen=True)
class Burst:
    """Stored messages of one conversation answered as one unit, in order."""

    tenant_id: str
    conversation_id: str
    burst_id: str
    message_ids: list[int]
    first_message_at: datetime


@dataclass(frozen=True)
class Claim:
    """A conversation's snapshot taken for flushing, with the lease's fencing token."""

    member: str
    token: str
    # (message time ms, id), in order
    messages: list[tuple[int, int]]

    @property
    def tenant_id(self) -> str:
        return self.member.split(":", 1)[0]

    @property
    def conversation_id(self) -> str:
        return self.member.split(":", 1)[1]


def burst_id_for(tenant_id: str, conversation_id: str, message_ids: Iterable[int]) -> str:
    """A burst id that depends only on the set of messages (stable across re-flushes)."""
    ids = ",".join(str(i) for i in sorted(message_ids))
    return hashlib.sha256(f"{tenant_id}|{conversation_id}|{ids}".encode()).hexdigest()[:32]
