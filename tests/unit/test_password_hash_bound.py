"""Sign-in bursts queue for argon2 instead of each taking its 64 MiB at once (the console's
memory limit on Kubernetes counts on MAX_CONCURRENT_HASHES)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from wacommon.console import passwords


async def test_no_more_than_the_bound_hash_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    running = peak = 0
    real = passwords._verify

    def counted(stored: str | None, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.02)  # hold the slot long enough for the others to pile up
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "_verify", counted)
    stored = await passwords.hash_password("correct horse battery")
    results = await asyncio.gather(
        *(passwords.verify_password(stored, "correct horse battery") for _ in range(3)),
        *(passwords.verify_password(stored, "wrong password!") for _ in range(3)),
    )
    assert results == [True] * 3 + [False] * 3
    assert peak == passwords.MAX_CONCURRENT_HASHES
