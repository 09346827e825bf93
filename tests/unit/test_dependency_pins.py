"""Every direct dependency is pinned with == and locked at that version (the offline audit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_direct_dependency_is_pinned_and_locked() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_pins.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "pinned and locked" in run.stdout
