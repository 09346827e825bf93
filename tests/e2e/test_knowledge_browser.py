"""The knowledge base page in headless Chromium against the console as a real process.

An owner uploads four files at once (a text file, one over KNOWLEDGE_MAX_BYTES, an empty one
and a Word file):
each row shows its own verdict, the good one is listed with its passages; the ask box
shows ranked passages with their score; a delete removes the document. An agent gets 403.
Also on a phone-sized viewport (390 px).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import docx
import pytest

from tests.e2e.stack import Stack
from tests.fakes.gemini_file_search import FakeFileSearch, serve_gemini_with_file_search
from tests.fakes.gemini_server import FakeGemini

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

if not os.path.exists("/usr/bin/chromium"):
    pytest.skip(
        "/usr/bin/chromium not found (apt-get install -y chromium)", allow_module_level=True
    )
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")

from tests.e2e.console_browser import PASSWORD, WAIT_MS, launch, new_page, shot, sign_in  # noqa: E402
from wacommon.console import passwords  # noqa: E402
from wacommon.repositories import users as users_repo  # noqa: E402

expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)
MAX_BYTES = 64 * 1024
HOURS = (
    "Horário de funcionamento\n\n"
    "Abrimos de segunda a sábado, das 8h às 20h. Aos domingos ficamos fechados.\n\n"
    "Estacionamento\n\nTemos estacionamento gratuito para clientes na rua de trás."
)


@dataclass
class Env:
    console: str
    pool: asyncpg.Pool


async def _user(pool: asyncpg.Pool, tenant: str, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await users_repo.create_user(
        pool,
        tenant_id=tenant,
        email=email,
        name="Dona Marta" if role == "owner" else "Ana Atendente",
        role=role,
        password_hash=passwords.hash_password_sync(PASSWORD),
    )
    return email


async def tenant_with(env: Env, role: str, tools_config: str = "{}") -> str:
    """A new tenant of its own (tests run in any order) and the email of one of its users."""
    tenant = await env.pool.fetchval(
        "INSERT INTO clients (name, tools_config) VALUES ('Academia', $1::text::jsonb) RETURNING id",
        tools_config,
    )
    return await _user(env.pool, str(tenant), role)


@pytest.fixture(scope="module")
def gemini() -> Iterator[tuple[FakeGemini, FakeFileSearch]]:
    with serve_gemini_with_file_search() as served:
        yield served


@pytest.fixture(scope="module")
async def env(
    test_env: dict[str, str], pool: asyncpg.Pool, gemini: tuple[FakeGemini, FakeFileSearch]
) -> AsyncIterator[Env]:
    stack = Stack(
        {
            **test_env,
            "CONSOLE_INSECURE_COOKIES": "1",
            "KNOWLEDGE_MAX_BYTES": str(MAX_BYTES),
            # the deployment's Gemini is the fake: a tenant choosing Gemini gets File Search
            "GEMINI_API_KEY": "deployment-gemini-key",
            "GEMINI_BASE_URL": gemini[0].url,
            "CONSOLE_FILE_SEARCH_POLL_S": "0.05",
        }
    )
    console = stack.add("console")
    try:
        await stack.start(console)
        yield Env(console.url, pool)
    finally:
        stack.stop_all()


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    async for b in launch(playwright_api):
        yield b


async def test_owner_uploads_asks_and_deletes(env: Env, browser: Any, tmp_path: Any) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 900})
    owner = await tenant_with(env, "owner")
    await sign_in(page, env.console, owner)
    await (
        page.get_by_role("navigation", name="Menu principal")
        .get_by_role("link", name="Conhecimento")
        .click()
    )
    await expect(page.get_by_role("heading", name="Base de conhecimento")).to_be_visible()
    await expect(page.get_by_text("Nenhum documento ainda")).to_be_visible()

    good = tmp_path / "horario.txt"
    good.write_text(HOURS, encoding="utf-8")
    big = tmp_path / "enorme.txt"
    big.write_bytes(b"texto " * (MAX_BYTES // 5))
    empty = tmp_path / "vazio.md"
    empty.write_bytes(b"")
    word = tmp_path / "planos.docx"
    document = docx.Document()
    document.add_heading("Planos", 1)
    document.add_paragraph("O plano anual custa R$ 99 por mês e dá direito a todas as aulas.")
    document.save(str(word))
    await page.get_by_label("Arquivos", exact=True).set_input_files(
        [str(good), str(big), str(empty), str(word)]
    )
    await page.get_by_role("button", name="Enviar", exact=True).click()

    rows = page.locator("#kb-uploads .kb-upload")
    await expect(rows).to_have_count(4)
    await expect(rows.nth(0)).to_have_class(re.compile(r"\bdone\b"))
    await expect(rows.nth(0)).to_contain_text(re.compile(r"Pronto: \d+ trechos?"))
    await expect(rows.nth(1)).to_have_class(re.compile(r"\bfailed\b"))
    await expect(rows.nth(1)).to_contain_text("arquivo grande demais: o limite é 64 KB")
    await expect(rows.nth(2)).to_have_class(re.compile(r"\bfailed\b"))
    await expect(rows.nth(2)).to_contain_text("o arquivo está vazio")
    await expect(rows.nth(3)).to_contain_text("Pronto: 1 trecho")

    docs = page.locator("#kb-docs .kb-doc")
    await expect(docs).to_have_count(2)
    listed = page.locator('#kb-docs .kb-doc[data-name="horario.txt"]')
    await expect(listed).to_have_attribute("data-name", "horario.txt")
    await expect(listed).to_contain_text(re.compile(r"\d+ trechos? · \d+ B"))
    await shot(page, "knowledge-upload", full_page=True)

    await page.get_by_label("Pergunta", exact=True).fill("vocês abrem no sábado?")
    await page.get_by_role("button", name="Perguntar").click()
    passages = page.locator("#kb-passages .kb-passage")
    await expect(passages.first).to_contain_text("segunda a sábado")
    await expect(passages.first.locator(".kb-score")).to_have_text(
        re.compile(r"relevância 0\.\d\d|relevância 1\.00")
    )
    await expect(page.locator("#kb-answer-how")).to_contain_text("Sem modelo de IA")
    await shot(page, "knowledge", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    await listed.get_by_role("button", name="Excluir horario.txt").click()
    await expect(docs).to_have_count(1)
    await expect(docs.first).to_have_attribute("data-name", "planos.docx")
    await page.get_by_role("button", name="Perguntar").click()
    await expect(page.locator("#kb-no-passage")).to_be_visible()
    count = await env.pool.fetchval(
        "SELECT count(*) FROM kb_documents d JOIN console_users u ON u.client_id = d.client_id"
        " WHERE lower(u.email) = $1",
        owner,
    )
    assert count == 1
    assert errors == []


async def test_the_page_fits_a_phone(env: Env, browser: Any, tmp_path: Any) -> None:
    page, errors = await new_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await sign_in(page, env.console, await tenant_with(env, "owner"))
    await page.goto(f"{env.console}/conhecimento")
    doc = tmp_path / "perguntas-frequentes-da-academia-com-nome-comprido.md"
    doc.write_text("# Matrícula\n\nA matrícula custa R$ 50 e pode ser paga no Pix.\n", "utf-8")
    await page.get_by_label("Arquivos", exact=True).set_input_files(str(doc))
    await page.get_by_role("button", name="Enviar", exact=True).click()
    await expect(page.locator("#kb-docs .kb-doc")).to_have_count(1)
    nav = page.get_by_role("navigation", name="Menu principal")
    await expect(nav.get_by_role("link", name="Conhecimento")).to_be_visible()
    await shot(page, "knowledge-phone", full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
    assert errors == []


async def test_file_search_switch_shows_each_documents_sync(
    env: Env, browser: Any, gemini: tuple[FakeGemini, FakeFileSearch], tmp_path: Any
) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 900})
    owner = await tenant_with(env, "owner", '{"llm_config": {"provider": "gemini"}}')
    await sign_in(page, env.console, owner)
    await page.goto(f"{env.console}/conhecimento")
    doc = tmp_path / "aulas.md"
    doc.write_text("# Aulas\n\nTemos aulas de yoga às terças e quintas, às 19h.\n", "utf-8")
    await page.get_by_label("Arquivos", exact=True).set_input_files(str(doc))
    await page.get_by_role("button", name="Enviar", exact=True).click()
    row = page.locator('#kb-docs .kb-doc[data-name="aulas.md"]')
    await expect(row).to_be_visible()
    await expect(row.locator("[data-sync]")).to_have_count(0)  # switched off

    await page.get_by_label("Usar o Gemini File Search").check()
    await expect(page.locator("#kb-fs-state")).to_have_text(
        "Ligado: os documentos são enviados ao Gemini."
    )
    await expect(row.locator("[data-sync]")).to_have_text("File Search: sincronizado")
    assert any(d.display_name == "aulas.md" for d in gemini[1].documents.values())
    await shot(page, "knowledge-file-search", full_page=True)

    await page.get_by_label("Usar o Gemini File Search").uncheck()
    await expect(page.locator("#kb-fs-state")).to_have_text("Desligado.")
    await expect(row.locator("[data-sync]")).to_have_count(0)
    assert errors == []


async def test_agent_gets_403(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser)
    await sign_in(page, env.console, await tenant_with(env, "agent"))
    nav = page.get_by_role("navigation", name="Menu principal")
    await expect(nav.get_by_role("link", name="Conversas")).to_be_visible()
    await expect(nav.get_by_role("link", name="Conhecimento")).to_have_count(0)
    resp = await page.goto(f"{env.console}/conhecimento")
    assert resp is not None and resp.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()
    assert errors == []
