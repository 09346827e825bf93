"""What the headless-Chromium tests share: the browser (skipping the module without it),
a page that collects script errors, sign-in and screenshots.

A test module calls `api = playwright_or_skip()` at import, then uses `launch(api)` in its
`browser` fixture and `new_page` / `sign_in` / `shot` in its tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000
# `CONSOLE_SCREENSHOTS=<folder>` keeps PNGs of the pages the tests visit
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


def playwright_or_skip() -> Any:
    """`playwright.async_api` (its `expect` waiting up to WAIT_MS), or skip the calling
    module (no Chromium, no playwright)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)",
            allow_module_level=True,
        )
    api = pytest.importorskip(
        "playwright.async_api", reason="playwright not installed (.venv/bin/pip install playwright)"
    )
    api.expect.set_options(timeout=WAIT_MS)
    return api


@asynccontextmanager
async def launch(api: Any) -> AsyncIterator[Any]:
    async with api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def new_page(
    browser: Any, *, accept_dialogs: bool = False, **options: Any
) -> tuple[Any, list[str]]:
    """A page in a fresh pt-BR context, and the list its script errors land in."""
    context = await browser.new_context(locale="pt-BR", **options)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # script errors only: a refused request (401, 403, 429) is logged by the browser too
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    if accept_dialogs:
        page.on("dialog", lambda dialog: dialog.accept())
    return page, errors


async def sign_in(page: Any, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(password)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/inbox.*"))


async def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.evaluate("window.scrollTo(0, 0)")  # the sticky bar stays on top
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)
