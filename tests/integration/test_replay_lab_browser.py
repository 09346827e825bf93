"""The Laboratório de respostas in headless Chromium: a phone runs a new prompt and reads the
old and new replies stacked; a wide screen shows them side by side. The console is served
in-process (uvicorn on this test's loop, so it shares the run's pool), the model is the fake
OpenAI server. `CONSOLE_SCREENSHOTS=docs/console` keeps the screenshots.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from unittest import mock

import asyncpg
import pytest
import redis.asyncio as aioredis
import uvicorn

from tests.e2e import console_browser as cb
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.console_helpers import console_app, console_settings, new_user
from tests.integration.outbox_helpers import Tenant
from tests.integration.test_replay_lab import ai, deps, model, tenant, uazapi  # noqa: F401

api = cb.playwright_or_skip()
browser = cb.browser
PROMPT = "Eva da padaria:\nVocê é a Eva, simpática."


@pytest.fixture()
async def console(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    test_env: dict[str, str],
    model: FakeOpenAI,  # noqa: F811
) -> AsyncIterator[str]:
    """The console's address, its model the fake (the lab reads the AI settings per run).

    Tests ask for it before `browser`, so the browser closes first: the server's stop waits
    for the browser's keep-alive connections.
    """
    app = console_app(console_settings(test_env), pool, redis_client)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    llm = {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": model.base_url}
    try:
        with mock.patch.dict(os.environ, llm):
            yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_a_phone_tries_a_prompt_and_reads_old_and_new_replies(
    pool: asyncpg.Pool,
    console: str,
    browser: object,
    tenant: Tenant,  # noqa: F811
) -> None:
    owner = await new_user(pool, tenant.tenant_id, "owner", password=cb.PASSWORD)
    page, errors = await cb.new_page(browser, viewport={"width": 390, "height": 844})
    await cb.sign_in(page, console, owner["email"])
    await page.goto(f"{console}/testar")
    await page.locator("#lab-link").click()
    await page.wait_for_url(f"{console}/laboratorio")
    prompt = page.get_by_label("Prompt a testar")
    await api.expect(prompt).to_have_value("Persona antiga.")
    await prompt.fill(PROMPT)
    await page.get_by_role("button", name="Testar nas conversas").click()
    turns = page.locator(".lab-turn")
    await api.expect(turns).to_have_count(2)
    await api.expect(page.locator("#lab-totals")).to_contain_text("2 de 2 mensagens")
    first = turns.first
    await api.expect(first.locator(".lab-old")).to_contain_text("A senha do wifi")
    await api.expect(first.locator(".lab-new")).to_contain_text("Eva da padaria:")
    await api.expect(turns.nth(1).locator(".dry-run")).to_have_text("simulado, não feito")
    # stacked on a phone: the new reply under the old one, nothing wider than the screen
    old_box = await first.locator(".lab-old").bounding_box()
    new_box = await first.locator(".lab-new").bounding_box()
    assert old_box is not None and new_box is not None and new_box["y"] > old_box["y"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await cb.screenshot(page, "replay-lab-phone")

    wide, wide_errors = await cb.new_page(browser, viewport={"width": 1200, "height": 900})
    await cb.sign_in(wide, console, owner["email"])
    await wide.goto(f"{console}/laboratorio")
    await wide.get_by_label("Prompt a testar").fill(PROMPT)
    await wide.get_by_role("button", name="Testar nas conversas").click()
    row = wide.locator(".lab-turn").first
    await api.expect(row.locator(".lab-new")).to_contain_text("Eva da padaria:")
    old_box = await row.locator(".lab-old").bounding_box()
    new_box = await row.locator(".lab-new").bounding_box()
    assert old_box is not None and new_box is not None
    assert new_box["x"] > old_box["x"] and abs(new_box["y"] - old_box["y"]) < 2
    await cb.screenshot(wide, "replay-lab-desktop")
    assert errors == [] and wide_errors == []
