"""Headless Chromium for the console's browser tests: launch flags, a page that records
script errors, signing in, and screenshots kept when `CONSOLE_SCREENSHOTS` names a folder.

Import it after the module's own skip checks (Chromium present, Playwright installed).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
PASSWORD = "senha-do-navegador-1"
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
WAIT_MS = 20_000


async def launch(playwright_api: Any) -> AsyncIterator[Any]:
    """A browser for one test (a fixture body: `yield` it from an async fixture)."""
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


async def new_page(browser: Any, **options: Any) -> tuple[Any, list[str]]:
    context = await browser.new_context(locale="pt-BR", **options)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # script errors only: a refused request (401, 403, 413, 429) is logged by the browser too
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    return page, errors


async def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(password)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/inbox.*"))
