"""The console's top bar in headless Chromium: on a 390 px phone it never scrolls sideways and
every page of the role is one tap away, in the bar or in the "Mais" disclosure; on a wide
screen every link is in the bar.

For the owner and the agent each page link is followed: the page opens, its link carries
`aria-current="page"` and, when it lives in "Mais", the summary is marked too. The menu opens
from the keyboard, Escape closes it and gives the focus back, a tap outside closes it.

`CONSOLE_SCREENSHOTS=<dir>` keeps PNGs of the bar and the open menu.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.e2e import console_browser
from tests.e2e.console_browser import console_user, new_page, shot, sign_in
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

playwright_api = console_browser.playwright_or_skip()
expect = playwright_api.expect
browser = console_browser.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# the narrowest phones still sold (many Androids)
SMALL_PHONE = {"viewport": {"width": 360, "height": 800}, "is_mobile": True, "has_touch": True}
WIDE = {"viewport": {"width": 1400, "height": 900}}
# (accessible name, path) of every page link each role has in the bar
AGENT_PAGES = [("Conversas", "/inbox"), ("Minha conta", "/conta")]
OWNER_PAGES = [
    ("Conversas", "/inbox"),
    ("Testar o bot", "/testar"),
    ("Conhecimento", "/conhecimento"),
    ("Ajustes", "/configuracoes"),
    ("Canais", "/canais"),
    ("Métricas", "/metricas"),
    ("Equipe", "/equipe"),
    ("WhatsApp (Meta)", "/canais/meta"),
    ("Minha conta", "/conta"),
]
# what an owner's phone keeps in the bar; the rest is under "Mais"
OWNER_BAR = {"/inbox", "/testar", "/conhecimento"}


@dataclass
class Env:
    console: str
    owner: str
    agent: str


@pytest.fixture(scope="module")
async def env(test_env: dict[str, str], pool: asyncpg.Pool) -> AsyncIterator[Env]:
    tenant = str(
        await pool.fetchval("INSERT INTO clients (name) VALUES ('Loja da Barra') RETURNING id")
    )
    stack = Stack({**test_env, "CONSOLE_INSECURE_COOKIES": "1"})
    console = stack.add("console")
    try:
        await stack.start(console)
        yield Env(
            console.url,
            await console_user(pool, tenant, "owner"),
            await console_user(pool, tenant, "agent"),
        )
    finally:
        stack.stop_all()


def _nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Menu principal")


async def _no_sideways_scroll(page: Any) -> None:
    overflow = await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls {overflow}px sideways on a phone"
    # nor does the bar's last link run under the sound and logout buttons
    overlap = await page.evaluate(
        """() => {
            const nav = document.querySelector('.topbar nav');
            const tools = document.querySelector('.topbar-tools');
            const right = Math.max(...[...nav.children].map(e => e.getBoundingClientRect().right));
            return right - tools.getBoundingClientRect().left;
        }"""
    )
    assert overlap <= 0, f"the bar's links run {overlap}px under its buttons"


async def _visit_every_page(
    page: Any, base: str, pages: list[tuple[str, str]], bar: set[str]
) -> None:
    """Follow each page link as a person would: from the bar, or by opening "Mais" first."""
    nav = _nav(page)
    more = nav.locator("details.nav-more > summary")
    for name, path in pages:
        link = nav.get_by_role("link", name=name, exact=True)
        if path in bar:
            await expect(link).to_be_visible()
        else:
            # a closed "Mais" hides its links from everyone (eyes and screen readers)
            await expect(link).to_have_count(0)
            await more.click()
            await expect(link).to_be_visible()
        await link.click()
        # (/configuracoes opens its first tab, /configuracoes/<tab>)
        await page.wait_for_url(re.compile(rf"^[^?]*{re.escape(path)}(/[a-z_-]+)?(\?.*)?$"))
        await _no_sideways_scroll(page)
        if path in bar:
            await expect(link).to_have_attribute("aria-current", "page")
            if await more.count():
                await expect(more).not_to_have_class(re.compile("has-current"))
        else:
            # the active page is inside the closed menu: its summary says so, and the link
            # says it is the current page once the menu is open
            await expect(more).to_have_class(re.compile("has-current"))
            await expect(link).to_have_count(0)
            await more.click()
            await expect(link).to_have_attribute("aria-current", "page")
            await page.keyboard.press("Escape")
        # one current page among the links a person can reach at this width
        await expect(nav.locator('a[aria-current="page"]:visible')).to_have_count(
            1 if path in bar else 0
        )


@pytest.mark.parametrize("phone", [PHONE, SMALL_PHONE], ids=["390px", "360px"])
async def test_owner_reaches_every_page_on_a_phone(
    env: Env, browser: Any, phone: dict[str, Any]
) -> None:
    page, errors = await new_page(browser, **phone)
    await sign_in(page, env.console, env.owner)
    await _no_sideways_scroll(page)
    width = phone["viewport"]["width"]
    await shot(page, f"nav-phone-owner-{width}")
    nav = _nav(page)
    more = nav.locator("details.nav-more > summary")
    await expect(more).to_have_text("Mais")
    await more.click()
    await expect(nav.get_by_role("link", name="Métricas", exact=True)).to_be_visible()
    await _no_sideways_scroll(page)
    await shot(page, f"nav-phone-owner-menu-{width}")
    # a tap outside the menu closes it
    await page.locator("main").click(position={"x": 20, "y": 400})
    await expect(nav.get_by_role("link", name="Métricas", exact=True)).to_have_count(0)
    await _visit_every_page(page, env.console, OWNER_PAGES, OWNER_BAR)
    # no room for "Sair" in an owner's bar: it is the menu's last item
    await expect(page.get_by_role("banner").get_by_role("button", name="Sair")).to_have_count(0)
    await more.click()
    await nav.get_by_role("button", name="Sair").click()
    await page.wait_for_url(re.compile(r".*/login$"))
    assert errors == []


async def test_the_menu_works_from_the_keyboard(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, **PHONE)
    await sign_in(page, env.console, env.owner)
    nav = _nav(page)
    summary = nav.locator("details.nav-more > summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    team = nav.get_by_role("link", name="Equipe", exact=True)
    await expect(team).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(nav.get_by_role("link", name="Ajustes", exact=True)).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(team).to_have_count(0)
    await expect(summary).to_be_focused()
    await page.keyboard.press("Space")
    await expect(team).to_be_visible()
    await team.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/equipe$"))
    assert errors == []


async def test_agent_reaches_every_page_on_a_phone(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, **PHONE)
    await sign_in(page, env.console, env.agent)
    await _no_sideways_scroll(page)
    await shot(page, "nav-phone-agent")
    # two pages: both stay in the bar, no "Mais"
    await expect(_nav(page).locator("details.nav-more")).to_have_count(0)
    await _visit_every_page(page, env.console, AGENT_PAGES, {p for _, p in AGENT_PAGES})
    await expect(_nav(page).get_by_role("link", name="Equipe")).to_have_count(0)
    assert errors == []


async def test_a_wide_screen_shows_every_link_in_the_bar(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, **WIDE)
    await sign_in(page, env.console, env.owner)
    nav = _nav(page)
    await expect(nav.locator("details.nav-more")).to_be_hidden()
    for name, path in OWNER_PAGES:
        link = nav.get_by_role("link", name=name, exact=True)
        await expect(link).to_be_visible()
        await expect(link).to_have_attribute("href", path)
    await shot(page, "nav-wide-owner")
    assert errors == []
