"""What the console's browser tests share: Chromium's path and flags, a page that collects
script errors, signing in through the form, and screenshots (`CONSOLE_SCREENSHOTS`).

A test module calls `playwright_or_skip()` at import (no Chromium or no playwright: the
module is skipped) and re-exports the `browser` fixture (`browser = console_browser.browser`).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from wacommon.console import passwords
from wacommon.repositories import users as users_repo

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


def playwright_or_skip() -> Any:
    """`playwright.async_api` with `expect` waiting WAIT_MS, or the calling module skipped."""
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
async def chromium(playwright_api: Any) -> AsyncIterator[Any]:
    """One headless Chromium, closed on exit."""
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


async def launch(playwright_api: Any) -> AsyncIterator[Any]:
    """A browser for one test (a fixture body: `yield` it from an async fixture)."""
    async with chromium(playwright_api) as b:
        yield b


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    from playwright import async_api

    async with chromium(async_api) as b:
        yield b


async def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save `name`.png under CONSOLE_SCREENSHOTS (nothing when it is unset)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.evaluate("window.scrollTo(0, 0)")
        # caret="initial": the default ("hide") injects a style the console's CSP refuses
        await page.screenshot(
            path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page, caret="initial"
        )


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
        # a confirm() answered yes, as the person would
        page.on("dialog", lambda dialog: dialog.accept())
    return page, errors


async def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(password)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/inbox.*"))


async def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """A whole-page `shot` (the settings pages are long)."""
    await shot(page, name, full_page=full_page)


async def nav_link(page: Any, name: str) -> Any:
    """The top bar's link `name`, opening the phone's "Mais" menu when it is in there."""
    nav = page.get_by_role("navigation", name="Menu principal")
    link = nav.get_by_role("link", name=name, exact=True)
    more = nav.locator("details.nav-more > summary")
    if not await link.count() and await more.is_visible():
        await more.click()
    return link


async def console_user(pool: asyncpg.Pool, tenant: str | None, role: str) -> str:
    """A new console user of `role` (signing in with PASSWORD); its e-mail."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await users_repo.create_user(
        pool,
        tenant_id=tenant,
        email=email,
        name=f"Pessoa {role}",
        role=role,
        password_hash=passwords.hash_password_sync(PASSWORD),
    )
    return email
