"""All SQL about the knowledge base's documents and their chunks, for one tenant (ranked
retrieval is `knowledge_search`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from wacommon.repositories.knowledge_text import vocabulary

SourceKind = Literal["txt", "md", "pdf", "docx", "csv", "html"]
Db = asyncpg.Connection | asyncpg.Pool

_DOC_COLUMNS = (
    "id::text AS id, client_id::text AS tenant_id, name, source_kind, content_hash,"
    " chunk_count, created_at, updated_at, size_bytes"
)


@dataclass(frozen=True)
class ChunkIn:
    """One chunk to store: the section heading it sits under and its text."""

    heading: str
    text: str


@dataclass(frozen=True)
class KbDocument:
    """A stored document (without its text)."""

    id: str
    tenant_id: str
    name: str
    source_kind: str
    content_hash: str
    chunk_count: int
    created_at: datetime
    updated_at: datetime
    # the uploaded file's bytes; None for documents stored before sizes were kept
    size_bytes: int | None = None


@contextlib.asynccontextmanager
async def _transaction(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn  # type: ignore[misc]
    else:
        async with db.transaction():
            yield db


async def upsert_document(
    db: Db,
    tenant_id: str,
    name: str,
    source_kind: SourceKind,
    content_hash: str,
    chunks: Sequence[ChunkIn],
    *,
    size_bytes: int | None = None,
) -> KbDocument:
    """Store a document with its chunks in one transaction; the same name replaces the old one."""
    async with _transaction(db) as conn:
        row = await conn.fetchrow(
            "INSERT INTO kb_documents"
            " (client_id, name, source_kind, content_hash, chunk_count, size_bytes)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, name) DO UPDATE SET"
            " source_kind = EXCLUDED.source_kind, content_hash = EXCLUDED.content_hash,"
            " chunk_count = EXCLUDED.chunk_count, size_bytes = EXCLUDED.size_bytes,"
            " updated_at = now()"
            f" RETURNING {_DOC_COLUMNS}",
            tenant_id,
            name,
            source_kind,
            content_hash,
            len(chunks),
            size_bytes,
        )
        assert row is not None
        doc = KbDocument(**dict(row))
        await conn.execute(
            "DELETE FROM kb_chunks WHERE client_id = $1 AND document_id = $2", tenant_id, doc.id
        )
        await conn.execute(
            "DELETE FROM kb_terms WHERE client_id = $1 AND document_id = $2", tenant_id, doc.id
        )
        await conn.executemany(
            "INSERT INTO kb_chunks (client_id, document_id, ordinal, heading, text)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(tenant_id, doc.id, i, c.heading, c.text) for i, c in enumerate(chunks)],
        )
        terms: set[str] = set()
        for c in chunks:
            terms |= vocabulary(f"{c.heading} {c.text}")
        await conn.execute(
            "INSERT INTO kb_terms (client_id, document_id, term) SELECT $1, $2, unnest($3::text[])",
            tenant_id,
            doc.id,
            sorted(terms),
        )
    return doc


async def list_documents(db: Db, tenant_id: str) -> list[KbDocument]:
    """The tenant's documents, by name."""
    rows = await db.fetch(
        f"SELECT {_DOC_COLUMNS} FROM kb_documents WHERE client_id = $1 ORDER BY name", tenant_id
    )
    return [KbDocument(**dict(r)) for r in rows]


async def get_document(db: Db, tenant_id: str, document_id: str) -> KbDocument | None:
    """One of the tenant's documents, or None."""
    row = await db.fetchrow(
        f"SELECT {_DOC_COLUMNS} FROM kb_documents WHERE client_id = $1 AND id = $2",
        tenant_id,
        document_id,
    )
    return KbDocument(**dict(row)) if row else None


async def document_text(db: Db, tenant_id: str, document_id: str) -> str:
    """A stored document's text rebuilt from its chunks (headings as Markdown titles), in order.

    What File Search gets for a document whose original bytes are gone (the switch turned on
    after the upload); neighbouring chunks of a long paragraph repeat their overlap.
    """
    rows = await db.fetch(
        "SELECT heading, text FROM kb_chunks WHERE client_id = $1 AND document_id = $2"
        " ORDER BY ordinal",
        tenant_id,
        document_id,
    )
    parts: list[str] = []
    heading = ""
    for r in rows:
        if r["heading"] and r["heading"] != heading:
            parts.append(f"## {r['heading']}")
        heading = r["heading"]
        parts.append(r["text"])
    return "\n\n".join(parts)


async def delete_document(db: Db, tenant_id: str, document_id: str) -> bool:
    """Delete a document and its chunks (gone from retrieval at once); False if not found."""
    status = await db.execute(
        "DELETE FROM kb_documents WHERE client_id = $1 AND id = $2", tenant_id, document_id
    )
    return str(status).endswith(" 1")
