"""The owner's knowledge base in the console (`/api/knowledge`, `/conhecimento`): uploads
with a reason per refused file, atomic replace, delete, the ask box answering what the bot
would read, Gemini File Search against the fake; agents 403, other tenants 404."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import asyncpg
import docx
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from console.deps import console_knowledge
from console.settings import ConsoleSettings
from tests.fakes.gemini_file_search import FakeFileSearch, serve_gemini_with_file_search
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.hostile_pdfs import inflating_pdf
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)
from waai.knowledge.bot_retrieval import retrieve_as_bot
from waai.knowledge.extract import (
    DOCX_MIME,
    DocumentLimits,
    DocumentUnreadable,
    document_limits,
    extract,
)
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.library import KnowledgeBase
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from wacommon.infra.crypto import SecretBox
from wacommon.infra.sandbox import ParseLimits

HOURS = (
    "Horário de funcionamento\n\n"
    "Abrimos de segunda a sábado, das 8h às 20h. Aos domingos e feriados ficamos fechados."
)
PRICES = "Preços\n\nA mensalidade do plano anual custa R$ 99. O plano mensal custa R$ 129."
MAX_BYTES = 4096


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env, knowledge_max_bytes=MAX_BYTES, parse_timeout_s=5.0)


@pytest.fixture()
def app(pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings) -> FastAPI:
    return console_app(csettings, pool, redis_client)


def upload(name: str, data: bytes | str, mime: str = "text/plain") -> dict[str, Any]:
    raw = data.encode() if isinstance(data, str) else data
    return {"files": {"file": (name, raw, mime)}}


async def test_upload_list_ask_replace_and_delete(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        first = await c.post("/api/knowledge/documents", **upload("horario.txt", HOURS))
        assert first.status_code == 201, first.text
        doc = first.json()
        assert doc["name"] == "horario.txt" and doc["kind"] == "txt"
        assert doc["passages"] >= 1 and doc["size_bytes"] == len(HOURS.encode())
        assert doc["file_search"] is None  # the switch is off
        resp = await c.post("/api/knowledge/documents", **upload("precos.md", PRICES))
        assert resp.status_code == 201, resp.text

        listed = (await c.get("/api/knowledge")).json()
        assert [d["name"] for d in listed["documents"]] == ["horario.txt", "precos.md"]
        assert listed["max_bytes"] == MAX_BYTES
        assert listed["file_search"] == {"enabled": False, "state": "off"}

        ask = await c.post("/api/knowledge/ask", json={"question": "que horas vocês abrem?"})
        assert ask.status_code == 200, ask.text
        answer = ask.json()
        assert answer["mode"] == "offline" and answer["k"] == 3
        assert answer["passages"][0]["document"] == "horario.txt"
        assert "segunda a sábado" in answer["passages"][0]["text"]
        scores = [p["score"] for p in answer["passages"]]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1

        # an empty replacement is refused and the old document stays, unchanged
        empty = await c.post("/api/knowledge/documents", **upload("horario.txt", b""))
        assert empty.status_code == 422
        assert empty.json()["detail"][0]["loc"] == ["body", "file"]
        assert empty.json()["detail"][0]["type"] == "empty"
        kept = (await c.get("/api/knowledge")).json()["documents"][0]
        assert kept["id"] == doc["id"] and kept["updated_at"] == doc["updated_at"]

        # a good one replaces it by name: same document, new text
        new_hours = HOURS.replace("8h às 20h", "9h às 18h")
        replaced = await c.post("/api/knowledge/documents", **upload("horario.txt", new_hours))
        assert replaced.status_code == 201, replaced.text
        assert replaced.json()["id"] == doc["id"]
        assert replaced.json()["updated_at"] != doc["updated_at"]
        again = (await c.post("/api/knowledge/ask", json={"question": "horário"})).json()
        assert "9h às 18h" in again["passages"][0]["text"]

        gone = await c.delete(f"/api/knowledge/documents/{doc['id']}")
        assert gone.status_code == 204
        after = (await c.post("/api/knowledge/ask", json={"question": "horário"})).json()
        assert all(p["document"] != "horario.txt" for p in after["passages"])
        names = [d["name"] for d in (await c.get("/api/knowledge")).json()["documents"]]
        assert names == ["precos.md"]


async def test_each_refused_file_names_the_field_and_the_reason(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        big = await c.post("/api/knowledge/documents", **upload("grande.txt", "a " * MAX_BYTES))
        assert big.status_code == 413
        assert big.json()["detail"][0]["loc"] == ["body", "file"]
        assert "grande demais" in big.json()["detail"][0]["msg"]

        exe = await c.post("/api/knowledge/documents", **upload("setup.exe", b"MZ\x90"))
        assert exe.status_code == 415
        assert exe.json()["detail"][0]["loc"] == ["body", "file"]
        assert ".pdf" in exe.json()["detail"][0]["msg"]

        blank = await c.post("/api/knowledge/documents", **upload("branco.md", "   \n\n"))
        assert blank.status_code == 422 and blank.json()["detail"][0]["type"] == "empty"
        assert "vazio" in blank.json()["detail"][0]["msg"]

        # the hostile-PDF protections of the import: a decompression bomb is read in a
        # bounded child and refused, not a 500
        bomb = await c.post(
            "/api/knowledge/documents",
            files={"file": ("bomba.pdf", inflating_pdf(30)[: MAX_BYTES - 1], "application/pdf")},
        )
        assert bomb.status_code == 422, bomb.text
        assert bomb.json()["detail"][0]["loc"] == ["body", "file"]

        no_file = await c.post("/api/knowledge/documents", data={"name": "x.txt"}, files={})
        assert no_file.status_code in (415, 422)
        missing = await c.post(
            "/api/knowledge/documents", files={"other": ("a.txt", b"texto", "text/plain")}
        )
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["body", "file"]

        long_name = await c.post(
            "/api/knowledge/documents",
            data={"name": "n" * 201 + ".txt"},
            files={"file": ("a.txt", b"texto", "text/plain")},
        )
        assert long_name.status_code == 422
        assert long_name.json()["detail"][0]["loc"] == ["body", "name"]

        no_question = await c.post("/api/knowledge/ask", json={"question": ""})
        assert no_question.status_code == 422
        assert no_question.json()["detail"][0]["loc"] == ["body", "question"]
        switch = await c.put("/api/knowledge/file-search", json={"enabled": "sim"})
        assert switch.status_code == 422
        assert switch.json()["detail"][0]["loc"] == ["body", "enabled"]

        # none of the refused files left a document behind
        assert (await c.get("/api/knowledge")).json()["documents"] == []


async def test_agents_get_403_and_other_tenants_documents_are_404(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    agent = await new_user(pool, tenant, "agent")
    stranger = await new_user(pool, other, "owner")
    async with client_for(app) as c:
        await sign_in(c, stranger["email"])
        theirs = await c.post("/api/knowledge/documents", **upload("segredo.txt", PRICES))
        assert theirs.status_code == 201
        their_id = theirs.json()["id"]
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        assert (await c.delete(f"/api/knowledge/documents/{their_id}")).status_code == 404
        assert (await c.delete("/api/knowledge/documents/not-a-uuid")).status_code == 404
        assert (await c.get(f"/api/knowledge?tenant_id={other}")).status_code == 404
        mine = (await c.get("/api/knowledge")).json()["documents"]
        assert mine == []
        ask = (await c.post("/api/knowledge/ask", json={"question": "mensalidade"})).json()
        assert ask["passages"] == []  # another tenant's text never answers
        page = await c.get("/conhecimento")
        assert page.status_code == 200
        assert 'href="/conhecimento" aria-current="page"' in page.text
        assert "Base de conhecimento" in page.text and "segredo.txt" not in page.text
        assert (await c.get(f"/conhecimento?tenant_id={other}")).status_code == 404
    still = await pool.fetchval("SELECT count(*) FROM kb_documents WHERE id = $1", their_id)
    assert still == 1
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        assert (await c.get("/api/knowledge")).status_code == 403
        refused = await c.post("/api/knowledge/documents", **upload("a.txt", HOURS))
        assert refused.status_code == 403
        assert (await c.post("/api/knowledge/ask", json={"question": "x"})).status_code == 403
        assert (await c.delete(f"/api/knowledge/documents/{their_id}")).status_code == 403
        page = await c.get("/conhecimento")
        assert page.status_code == 403 and "Acesso não permitido" in page.text
        inbox = await c.get("/conta")
        assert 'href="/conhecimento"' not in inbox.text


async def test_the_ask_box_matches_the_bots_own_retrieval(
    app: FastAPI, pool: asyncpg.Pool, csettings: ConsoleSettings
) -> None:
    """Same tenant, same question: the API's passages are `retrieve_as_bot`'s, which the
    responder factory's retriever choice also goes through."""
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        for name, text in (("horario.txt", HOURS), ("precos.txt", PRICES)):
            resp = await c.post("/api/knowledge/documents", **upload(name, text))
            assert resp.status_code == 201
        shown = await c.post("/api/knowledge/ask", json={"question": "quanto custa o anual?"})
        clients = LLMClients()
        try:
            direct = await retrieve_as_bot(
                pool,
                tenant,
                {},
                "quanto custa o anual?",
                settings=AISettings(),
                decrypt=SecretBox(None).decrypt,
                clients=clients,
            )
        finally:
            await clients.aclose()
    assert [(p["document"], p["text"], p["score"]) for p in shown.json()["passages"]] == [
        (p.document, p.text, p.score) for p in direct.passages
    ]
    assert direct.passages and direct.passages[0].document == "precos.txt"


@pytest.fixture(scope="module")
def gemini() -> Iterator[tuple[FakeGemini, FakeFileSearch]]:
    with serve_gemini_with_file_search() as served:
        yield served


async def eventually_synced(c: httpx.AsyncClient, state: str, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        docs = (await c.get("/api/knowledge")).json()["documents"]
        states = [d["file_search"]["state"] for d in docs if d["file_search"]]
        if len(states) == count and all(s == state for s in states):
            return list(docs)
        await asyncio.sleep(0.05)
    raise AssertionError(f"not all {state}: {docs}")


async def test_file_search_switch_syncs_documents_and_reports_failures(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    csettings: ConsoleSettings,
    gemini: tuple[FakeGemini, FakeFileSearch],
) -> None:
    fake, fs_state = gemini
    ai = AISettings(gemini_api_key="global-gemini-key", gemini_base_url=fake.url)
    box = SecretBox(None)
    knowledge = KnowledgeBase(
        pool,
        ai,
        box.decrypt,
        document_limits(csettings),
        max_bytes=csettings.knowledge_max_bytes,
        file_search=FileSearchSyncs(ai, box.decrypt, poll_interval_s=0.01, poll_timeout_s=10),
    )
    app = console_app(csettings, pool, redis_client, knowledge=knowledge)
    tenant = await new_tenant(pool)
    await pool.execute(
        """UPDATE clients SET tools_config = '{"llm_config": {"provider": "gemini"}}'"""
        " WHERE id = $1",
        tenant,
    )
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        resp = await c.post("/api/knowledge/documents", **upload("horario.txt", HOURS))
        assert resp.status_code == 201 and resp.json()["file_search"] is None

        on = await c.put("/api/knowledge/file-search", json={"enabled": True})
        assert on.status_code == 200 and on.json() == {"enabled": True, "state": "on"}
        config = await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", tenant)
        assert config["llm_config"] == {"provider": "gemini", "file_search": True}
        # the document stored before the switch goes up as its text
        [doc] = await eventually_synced(c, "synced", 1)
        remote = [d for d in fs_state.documents.values() if d.display_name == "horario.txt"]
        assert len(remote) == 1 and b"segunda a s" in remote[0].data

        # an upload while the store fails: stored locally, its sync marked failed with why
        fs_state.failing = 503
        try:
            resp = await c.post("/api/knowledge/documents", **upload("precos.txt", PRICES))
            assert resp.status_code == 201, resp.text
            assert resp.json()["file_search"]["state"] == "failed"
            assert "503" in resp.json()["file_search"]["error"]
        finally:
            fs_state.failing = None
        page = await c.get("/conhecimento")
        assert "File Search: falhou" in page.text and "File Search: sincronizado" in page.text

        retry = await c.post("/api/knowledge/file-search/sync")
        assert retry.status_code == 202
        await eventually_synced(c, "synced", 2)

        off = await c.put("/api/knowledge/file-search", json={"enabled": False})
        assert off.json() == {"enabled": False, "state": "off"}
        listed = (await c.get("/api/knowledge")).json()["documents"]
        assert [d["file_search"] for d in listed] == [None, None]
        assert doc["name"] == "horario.txt"


async def test_file_search_on_without_gemini_says_it_has_no_effect(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    app = console_app(
        csettings,
        pool,
        redis_client,
        knowledge=console_knowledge(csettings, pool, SecretBox(None)),
    )
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        on = await c.put("/api/knowledge/file-search", json={"enabled": True})
        assert on.json() == {"enabled": True, "state": "inactive"}
        page = await c.get("/conhecimento")
        assert "sem efeito" in page.text


def word_file(paragraphs: list[tuple[str, str]]) -> bytes:
    """A .docx written by python-docx: ("h", title) headings and ("p", text) paragraphs."""
    document = docx.Document()
    for kind, text in paragraphs:
        if kind == "h":
            document.add_heading(text, 1)
        else:
            document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {
        (0, 0): "Plano",
        (0, 1): "Preço",
        (1, 0): "Anual",
        (1, 1): "R$ 99",
    }.items():
        table.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def word_bomb(text_bytes: int) -> bytes:
    """A .docx whose body XML inflates to `text_bytes` of text (a few hundred KB zipped)."""
    source = zipfile.ZipFile(io.BytesIO(word_file([("p", "x")])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, source.read(item))
                continue
            head, _, _ = source.read(item).partition(b"<w:body>")
            with bomb.open("word/document.xml", "w") as part:
                part.write(head + b"<w:body><w:p><w:r><w:t>")
                chunk = b"a" * (1024 * 1024)
                for _ in range(text_bytes // len(chunk)):
                    part.write(chunk)
                part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


async def test_a_word_document_is_read_with_its_headings_and_tables(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    roomy = csettings.model_copy(update={"knowledge_max_bytes": 1024 * 1024})
    app = console_app(roomy, pool, redis_client)
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    data = word_file([("h", "Horário de funcionamento"), ("p", HOURS.split("\n\n")[1])])
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        resp = await c.post("/api/knowledge/documents", **upload("regras.docx", data, DOCX_MIME))
        assert resp.status_code == 201, resp.text
        assert resp.json()["kind"] == "docx" and resp.json()["passages"] >= 1
        ask = (await c.post("/api/knowledge/ask", json={"question": "horário de sábado"})).json()
        assert ask["passages"][0]["heading"] == "Horário de funcionamento"
        assert "segunda a sábado" in ask["passages"][0]["text"]
        price = (await c.post("/api/knowledge/ask", json={"question": "preço do anual"})).json()
        assert any("Anual: R$ 99" in p["text"] for p in price["passages"])


async def test_a_word_decompression_bomb_is_refused_by_the_bounded_reader() -> None:
    limits = DocumentLimits(parse=ParseLimits(timeout_s=10, memory_bytes=256 * 1024 * 1024))
    bomb = word_bomb(400 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    with pytest.raises(DocumentUnreadable) as refused:
        await extract("bomba.docx", bomb, limits=limits)
    assert refused.value.reason == "parse_failed"


async def test_an_operator_works_in_the_chosen_tenants_knowledge_base(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    operator = await new_user(pool, None, "operator")
    async with client_for(app) as c:
        await sign_in(c, operator["email"])
        chooser = await c.get("/conhecimento")
        assert chooser.status_code == 303 and chooser.headers["location"] == "/clientes"
        assert (await c.get("/api/knowledge")).status_code == 422  # names tenant_id
        chosen = await c.put("/api/operator/acting-tenant", json={"tenant_id": tenant})
        assert chosen.status_code == 200, chosen.text
        resp = await c.post("/api/knowledge/documents", **upload("horario.txt", HOURS))
        assert resp.status_code == 201, resp.text
        named = await c.post(
            f"/api/knowledge/documents?tenant_id={other}", **upload("precos.txt", PRICES)
        )
        assert named.status_code == 201
        page = await c.get("/conhecimento")
        assert page.status_code == 200 and "horario.txt" in page.text
        assert "precos.txt" not in page.text
    rows = await pool.fetch(
        "SELECT client_id::text, name FROM kb_documents WHERE name = ANY($1)"
        " AND client_id = ANY($2::uuid[])",
        ["horario.txt", "precos.txt"],
        [tenant, other],
    )
    assert {(r["client_id"], r["name"]) for r in rows} == {
        (tenant, "horario.txt"),
        (other, "precos.txt"),
    }
