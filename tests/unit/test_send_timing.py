"""The sender refuses a takeover window a live send could still be inside (issue 16 item 1)."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from sender.deps import InconsistentSendTiming, check_send_timing
from sender.main import run
from sender.settings import SenderSettings


def test_the_default_settings_are_consistent() -> None:
    s = SenderSettings(_env_file=None)  # type: ignore[call-arg]
    check_send_timing(s.send_reconcile_s, s.send_http_timeout_s, s.send_record_timeout_s)


@pytest.mark.parametrize(
    ("reconcile_s", "http_timeout_s", "record_for_s"),
    [(60, 45, 30), (30, 15, 15), (10, 15, 1), (60, 0, 30), (60, 15, -1)],
)
def test_a_window_shorter_than_a_claimed_send_is_refused(
    reconcile_s: float, http_timeout_s: float, record_for_s: float
) -> None:
    with pytest.raises(InconsistentSendTiming):
        check_send_timing(reconcile_s, http_timeout_s, record_for_s)


async def test_the_sender_refuses_to_start_with_inconsistent_settings() -> None:
    env = {"SEND_RECONCILE_S": "20", "SEND_HTTP_TIMEOUT_S": "15", "SEND_RECORD_TIMEOUT_S": "30"}
    with mock.patch.dict(os.environ, env):
        settings = SenderSettings(_env_file=None)  # type: ignore[call-arg]
    # refused before any connection is attempted (nothing listens on these addresses)
    settings.database_url = "postgresql://nobody@127.0.0.1:1/none"
    settings.amqp_url = "amqp://nobody:x@127.0.0.1:1/"
    with pytest.raises(InconsistentSendTiming, match="SEND_RECONCILE_S=20"):
        await run(settings)
