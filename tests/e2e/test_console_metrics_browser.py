"""`/metricas` in headless Chromium against the console as a real process.

Days before today are rolled up by the metrics service's aggregation; today's events are
not aggregated, so the page must count them live. The owner changes the range (a preset
and the date fields), a phone-sized viewport shows cards and a scrolling table, and an
operator sees every tenant and filters one.

`CONSOLE_SCREENSHOTS=docs/console` keeps PNGs of the page (desktop, phone, operator).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.console_browser import PASSWORD, console_user
from tests.e2e.stack import Stack
from tests.integration.test_console_metrics import ZONE, a_day_of, drain, event, local_today
from waai.turn_quality import TurnQuality
from wacommon.metrics.prices import PricedSettings
from wacommon.repositories import event_types as et

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
WAIT_MS = 20_000

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not found", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")
expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)


@dataclass
class Env:
    console: str
    tenant: str
    other: str
    owner: str
    operator: str
    today: date


async def _tenant(pool: asyncpg.Pool, name: str) -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO clients (name, timezone) VALUES ($1, $2) RETURNING id", name, ZONE
        )
    )


@pytest.fixture(scope="module")
async def env(test_env: dict[str, str], pool: asyncpg.Pool) -> AsyncIterator[Env]:
    tenant, other = await _tenant(pool, "Padaria Pão Quente"), await _tenant(pool, "Pet Feliz")
    today = await local_today(pool)
    # three stored days 20, 10 and 1 day ago (10 days: outside the 7-day default), and today live
    for back in (20, 10, 1):
        await a_day_of(pool, tenant, today - timedelta(days=back))
    await a_day_of(pool, other, today - timedelta(days=1))
    # reply quality: yesterday a grounded reply (stored), today one dropped as stale (live)
    grounded = TurnQuality(
        passages=2,
        grounded=True,
        handover="customer_asked",
        tokens_in=1200,
        tokens_out=180,
        cost_brl=0.0012,
    )
    await event(pool, tenant, et.TURN_QUALITY, grounded.as_event(), day=today - timedelta(days=1))
    await drain(pool, PricedSettings(_env_file=None).price_map())
    await a_day_of(pool, tenant, None)
    await a_day_of(pool, tenant, None)
    stale = TurnQuality(
        passages=1,
        grounded=False,
        silent="stale",
        repeated_info=True,
        tokens_in=900,
        tokens_out=120,
        cost_brl=0.0008,
    )
    await event(pool, tenant, et.TURN_QUALITY, stale.as_event(), day=None)
    stack = Stack({**test_env, "CONSOLE_INSECURE_COOKIES": "1", "METRICS_USD_BRL": "5.25"})
    console = stack.add("console")
    try:
        await stack.start(console)
        yield Env(
            console.url,
            tenant,
            other,
            await console_user(pool, tenant, "owner"),
            await console_user(pool, None, "operator"),
            today,
        )
    finally:
        stack.stop_all()


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def new_page(browser: Any, **options: Any) -> tuple[Any, list[str]]:
    context = await browser.new_context(locale="pt-BR", **options)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # script errors and CSP violations; a refused request is logged by the browser too (an
    # operator with no tenant chosen gets 422 on the inbox's event stream, as on every page)
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    return page, errors


async def sign_in(page: Any, base: str, email: str) -> None:
    await page.goto(f"{base}/login?next=%2Fmetricas")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(PASSWORD)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/metricas.*"))


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(
            path=str(Path(SHOTS) / f"{name}.png"), full_page=True, caret="initial"
        )


def kpi(page: Any, name: str) -> Any:
    return page.locator(f'[data-kpi="{name}"]')


async def test_owner_changes_the_range_and_today_is_live(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 900})
    await sign_in(page, env.console, env.owner)
    await expect(page.get_by_role("heading", name="Métricas")).to_be_visible()
    await expect(page.locator('nav a[aria-current="page"]:visible')).to_have_text("Métricas")
    # default: the last 7 days = yesterday (stored) + today (two days' worth, live)
    await expect(kpi(page, "messages_in")).to_have_text("9")
    await expect(page.locator("#metrics-days tbody tr")).to_have_count(2)
    today_row = page.locator(f'#metrics-days tr[data-day="{env.today.isoformat()}"]')
    await expect(today_row).to_have_class(re.compile("live-row"))
    await expect(today_row.locator("td").nth(1)).to_have_text("6")
    await expect(page.get_by_text("Ao vivo", exact=True)).to_be_visible()
    await expect(page.locator('[data-cause="ai"]')).to_have_text("3")
    # reply quality: yesterday's grounded reply and today's silent one
    await expect(page.get_by_role("heading", name="Qualidade das respostas")).to_be_visible()
    await expect(page.locator('[data-quality="turns"]')).to_have_text("2")
    await expect(page.locator('[data-quality="grounded_rate"]')).to_have_text("50%")
    await expect(page.locator('[data-quality="repeated_rate"]')).to_have_text("50%")
    await expect(page.locator('[data-quality="tokens_per_turn"]')).to_have_text("1.200")
    await expect(page.locator('[data-quality="cost_brl_per_turn"]')).to_have_text("R$ 0,0010")
    await expect(page.locator('[data-silent="stale"]')).to_have_text("1")
    await expect(page.locator('[data-handover-kind="customer_asked"]')).to_have_text("1")
    await expect(page.get_by_text("O cliente mandou outra mensagem antes")).to_be_visible()
    await shot(page, "metricas")

    # a preset: 30 days reach the days 10 and 20 days ago; the URL follows
    await page.get_by_role("link", name="Últimos 30 dias").click()
    await expect(kpi(page, "messages_in")).to_have_text("15")
    await expect(page.locator("#metrics-days tbody tr")).to_have_count(4)
    await expect(page).to_have_url(re.compile(r"days=30"))

    # the date fields: only the day 10 days ago, which is not live
    day = (env.today - timedelta(days=10)).isoformat()
    await page.get_by_label("De", exact=True).fill(day)
    await page.get_by_label("Até", exact=True).fill(day)
    await page.get_by_role("button", name="Ver período").click()
    await expect(page.locator("#metrics-days tbody tr")).to_have_count(1)
    await expect(kpi(page, "messages_in")).to_have_text("3")
    await expect(page.get_by_text("Ao vivo", exact=True)).to_have_count(0)
    await expect(page).to_have_url(re.compile(rf"from={day}"))

    # a start after the end: the field is named, nothing breaks
    await page.get_by_label("De", exact=True).fill(env.today.isoformat())
    await page.get_by_label("Até", exact=True).fill(day)
    await page.get_by_role("button", name="Ver período").click()
    await expect(page.locator("#m-range-error")).to_contain_text("Data inicial")
    assert errors == []


async def test_phone_shows_cards_and_a_scrolling_table(env: Env, browser: Any) -> None:
    page, errors = await new_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await sign_in(page, env.console, env.owner)
    await expect(kpi(page, "messages_in")).to_have_text("9")
    # nothing wider than the screen but the table's own scroller
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    cards = await page.locator(".kpi").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().width))"
    )
    # eight cards of the period, six of the reply quality: two to a row
    assert len(cards) == 8 + 6 and all(140 <= w <= 200 for w in cards), cards
    await shot(page, "metricas-celular")
    # a phone's bar keeps three links; "Métricas" is in "Mais", marked as the current page
    more = page.locator("details.nav-more > summary")
    await expect(more).to_have_class(re.compile("has-current"))
    await more.click()
    await expect(page.get_by_role("link", name="Métricas")).to_have_attribute(
        "aria-current", "page"
    )
    assert errors == []


async def test_operator_sees_every_tenant_and_filters_one(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 900})
    await sign_in(page, env.console, env.operator)
    rows = page.locator("#metrics-tenants tbody tr")
    await expect(rows.filter(has_text="Padaria Pão Quente")).to_have_count(1)
    await expect(rows.filter(has_text="Pet Feliz")).to_have_count(1)
    await shot(page, "metricas-operador")
    await page.get_by_label("Cliente", exact=True).select_option(label="Pet Feliz")
    await page.get_by_role("button", name="Ver período").click()
    await expect(page.get_by_role("heading", name=re.compile("Pet Feliz"))).to_be_visible()
    await expect(kpi(page, "messages_in")).to_have_text("3")
    await expect(page.locator("#metrics-tenants")).to_have_count(0)
    assert errors == []
