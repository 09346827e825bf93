"""Headless Chromium for the console's page tests: the browser and screenshots."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# `CONSOLE_SCREENSHOTS=docs/console` keeps PNGs of the pages a test visits
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


@asynccontextmanager
async def chromium(playwright_api: Any) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save `name`.png under CONSOLE_SCREENSHOTS (nothing when it is unset)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        # from the top: a full-page shot of a scrolled page paints the sticky bar mid-page
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)
