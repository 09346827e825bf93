"""What the scan and its handlers talk to, built once by `main.bootstrap` (tests pass fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from followup.writers import FollowupWriter, ReminderCheck
from wacommon.broker.notify import Notifier, NullNotifier
from wacommon.broker.publisher import Publisher


@dataclass
class FollowupDeps:
    """What the scan and its handlers talk to."""

    pool: asyncpg.Pool
    publisher: Publisher
    # writes a stage's text (an LLM, or the offline writer)
    writer: FollowupWriter
    # decides whether a due reminder still makes sense (an LLM, or the offline check)
    checker: ReminderCheck
    # live console notifications, after each commit (never raises)
    notifier: Notifier = field(default_factory=NullNotifier)
