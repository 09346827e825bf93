"""Schemathesis over every HTTP service, CI size: no 5xx and no failed check.

`make fuzz N=10000` runs the same harness at nightly size (tests/fuzz/run.py).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.fuzz.run import fuzz, fuzz_env, prepare, teardown

# a few hundred generated requests per service (the gateway's coverage phase adds more)
CI_REQUESTS = int(os.environ.get("FUZZ_CI_REQUESTS", "300"))


@pytest.mark.timeout(1200)
def test_no_service_answers_a_5xx_or_fails_a_check(run_id: str) -> None:
    env = fuzz_env(f"ci{run_id}")
    asyncio.run(prepare(env))
    try:
        figures = fuzz(env, requests=CI_REQUESTS, seed=int(run_id[:6], 16), verbose=False)
    finally:
        asyncio.run(teardown(env))
    print(figures.table())
    assert figures.requests >= CI_REQUESTS
    assert figures.server_errors == 0, figures.table()
    assert figures.ok, figures.table()
