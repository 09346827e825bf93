"""The history window and the overdue check, shared by the rag-worker and the simulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from waai.context_window import HISTORY_HOURS, HISTORY_MESSAGES, overdue, window
from wacommon.broker.schemas import utcnow
from wacommon.tenants.config import parse_tenant


@pytest.mark.parametrize(
    ("llm_config", "expected"),
    [
        (None, (HISTORY_MESSAGES, HISTORY_HOURS)),
        ("not a dict", (HISTORY_MESSAGES, HISTORY_HOURS)),
        ({}, (HISTORY_MESSAGES, HISTORY_HOURS)),
        ({"history_messages": "", "history_hours": ""}, (HISTORY_MESSAGES, HISTORY_HOURS)),
        ({"history_messages": "8", "history_hours": "1.5"}, (8, 1.5)),
        ({"history_messages": 4.0, "history_hours": 2}, (4, 2.0)),
        ({"history_messages": "muitas"}, (HISTORY_MESSAGES, HISTORY_HOURS)),
    ],
)
def test_window_reads_llm_config_and_falls_back_to_the_defaults(
    llm_config: Any, expected: tuple[int, float]
) -> None:
    tenant = parse_tenant({"id": "t", "tools_config": {"llm_config": llm_config}})
    assert window(tenant.llm) == expected


def test_overdue_after_the_tenants_maximum_wait() -> None:
    debounce = parse_tenant(
        {"id": "t", "tools_config": {"debounce": {"max_wait_seconds": 10}}}
    ).debounce
    assert overdue(debounce, utcnow() - timedelta(seconds=11))
    assert not overdue(debounce, utcnow() - timedelta(seconds=5))
    # no setting: the debounce default of 30 s
    assert not overdue(None, utcnow() - timedelta(seconds=20))
    assert overdue(None, utcnow() - timedelta(seconds=31))
