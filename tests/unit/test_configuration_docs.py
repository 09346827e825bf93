"""Every variable the services read is documented in .env.example and the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.settings import ConsoleSettings
from followup.settings import FollowupSettings
from metrics.settings import MetricsSettings
from waai.llm.config import AISettings
from wacommon.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(
    {
        n.upper()
        for cls in (Settings, FollowupSettings, MetricsSettings, ConsoleSettings)
        for n in cls.model_fields
    }
    | {n.upper() for n in AISettings.model_fields}
)


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [name for name in NAMES if name not in text]
    assert missing == [], f"{document} does not mention {missing}"
