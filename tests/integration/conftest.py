"""Fixtures shared by the integration tests that talk to fake HTTP providers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from waai.llm.clients import LLMClients


@pytest.fixture()
async def clients() -> AsyncIterator[LLMClients]:
    """Real OpenAI/Gemini SDK clients, no retries (the fakes script every answer)."""
    c = LLMClients(timeout_s=10, max_retries=0, trusted_hosts={"127.0.0.1"})
    yield c
    await c.aclose()


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client (tests that need other timeouts define their own)."""
    async with httpx.AsyncClient() as client:
        yield client
