"""Untrusted files are parsed under bounds; whatever goes wrong is "unreadable", never a retry.

Hostile PDFs are built here (tests/fakes/hostile_pdfs.py); the parser runs in a real
child process under real rlimits, and knowledge uploads go through the real admin route
and PostgreSQL.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from meta_gateway.admin.knowledge import knowledge_router
from tests.fakes.hostile_pdfs import inflating_pdf, many_pages_pdf, text_pdf
from waai.knowledge.extract import DocumentLimits, DocumentUnreadable
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.ingest import ingest_document
from waai.knowledge.pdf_text import read_pdf
from waai.llm.config import AISettings
from wacommon.infra.crypto import SecretBox
from wacommon.infra.sandbox import ParseFailed, ParseLimits, run_bounded
from wacommon.infra.settings import Settings
from wacommon.repositories.clients import create_client
from wacommon.service.http import service_app


def zero_bomb(megabytes: int) -> bytes:
    """zlib data inflating to `megabytes` MB of zeros, built without holding them."""
    z = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    return b"".join(z.compress(block) for _ in range(megabytes)) + z.flush()


AUTH = {"Authorization": "Bearer test-admin-token"}
TIGHT = ParseLimits(timeout_s=5.0, memory_bytes=256 * 1024 * 1024)


async def test_a_readable_pdf_comes_back_cleaned_of_nul() -> None:
    pdf = await read_pdf(text_pdf("Abrimos \\000 as 9h"), max_pages=5, max_chars=1000, limits=TIGHT)
    assert pdf.page_count == 1 and not pdf.truncated
    assert "\x00" not in pdf.pages[0] and "Abrimos" in pdf.pages[0]


async def test_an_inflating_pdf_hits_the_memory_bound() -> None:
    with pytest.raises(ParseFailed) as failed:
        await read_pdf(inflating_pdf(30), max_pages=5, max_chars=20000, limits=TIGHT)
    assert failed.value.reason in {"memory", "timeout"} or failed.value.reason.startswith("crashed")


async def test_a_slow_parse_is_killed_at_the_timeout() -> None:
    quick = ParseLimits(timeout_s=1.0, memory_bytes=1024 * 1024 * 1024)
    with pytest.raises(ParseFailed) as failed:
        await read_pdf(many_pages_pdf(100_000), max_pages=5, max_chars=1000, limits=quick)
    assert failed.value.reason == "timeout"


async def test_any_exception_in_the_child_is_one_parse_failure() -> None:
    # the standard library stands in for a parser that throws what nobody listed
    with pytest.raises(ParseFailed) as failed:
        await run_bounded("json:loads", b"{not json", TIGHT)
    assert failed.value.reason == "error: JSONDecodeError"
    assert await run_bounded("json:loads", b'{"ok": [1, 2]}', TIGHT) == {"ok": [1, 2]}
    bomb = zero_bomb(320)  # 0.3 MB that inflates past the 256 MB bound
    with pytest.raises(ParseFailed) as memory:
        await run_bounded("zlib:decompress", bomb, TIGHT)
    assert memory.value.reason == "memory"


async def test_the_child_sees_none_of_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    # os.getenvb(b"OPENAI_API_KEY") in the child: None when the variable is not there
    env = await run_bounded("os:getenvb", b"OPENAI_API_KEY", TIGHT)
    assert env is None


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    tight = settings.model_copy(
        update={
            "parse_timeout_s": 5.0,
            "parse_max_memory_bytes": 256 * 1024 * 1024,
            "knowledge_max_pages": 50,
        }
    )
    syncs = FileSearchSyncs(AISettings(), SecretBox(None).decrypt)
    app = service_app(None, "meta-gateway")
    app.include_router(knowledge_router(tight, pool, file_search=syncs))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("bomba.pdf", inflating_pdf(30), "could not be read"),
        ("paginas.pdf", many_pages_pdf(500), "over 50"),
        ("quebrado.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 32, "could not be read"),
        # one field past the csv module's 128 KiB limit: csv.Error escaped as a 500
        ("faq.csv", b"pergunta,resposta\nPix?," + b"x" * 200_000 + b"\n", "csv"),
    ],
    ids=["inflating-pdf", "too-many-pages", "malformed-pdf", "huge-csv-field"],
)
async def test_an_unreadable_upload_is_a_422_with_the_reason(
    api: httpx.AsyncClient, pool: asyncpg.Pool, name: str, data: bytes, needle: str
) -> None:
    client = await create_client(pool, {"name": "Docs"})
    resp = await api.post(
        f"/admin/clients/{client['id']}/documents",
        files={"file": (name, data, "application/octet-stream")},
        headers=AUTH,
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.text
    docs = await pool.fetchval(
        "SELECT count(*) FROM kb_documents WHERE client_id = $1", client["id"]
    )
    assert docs == 0


async def test_a_document_over_the_character_cap_is_refused(pool: asyncpg.Pool) -> None:
    client = await create_client(pool, {"name": "Docs"})
    with pytest.raises(DocumentUnreadable, match="over 100 characters"):
        await ingest_document(
            pool,
            str(client["id"]),
            "longo.txt",
            b"palavra " * 50,
            limits=DocumentLimits(max_chars=100),
        )


async def test_a_large_answer_is_read_whole_and_an_oversized_one_refused() -> None:
    # more than a pipe's buffer: the answer arrives in pieces
    text = "x" * 300_000
    assert await run_bounded("json:loads", f'"{text}"'.encode(), TIGHT) == text
    small = ParseLimits(timeout_s=5.0, memory_bytes=256 * 1024 * 1024, max_output_bytes=100_000)
    with pytest.raises(ParseFailed) as failed:
        await run_bounded("json:loads", f'"{text}"'.encode(), small)
    assert failed.value.reason == "output_too_large"
