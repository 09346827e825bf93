"""A file's bytes to stored, searchable chunks: the one path the admin API and the CLI share."""

from __future__ import annotations

from typing import Protocol

import structlog

from waai.knowledge.chunking import chunk_sections
from waai.knowledge.embeddings import Embedder, embed_missing
from waai.knowledge.extract import DocumentEmpty, DocumentLimits, extract
from wacommon.repositories import knowledge
from wacommon.repositories.knowledge import ChunkIn, Db, KbDocument, SourceKind


async def prepare_chunks(
    name: str, data: bytes, kind: SourceKind | None = None, *, limits: DocumentLimits | None = None
) -> tuple[SourceKind, str, list[ChunkIn]]:
    """(kind, content hash, chunks) of a file; raises DocumentNotSupported/DocumentUnreadable.

    DocumentEmpty for a file without a byte of content, or a text file without text: storing
    it would replace a document with nothing. A PDF without text (a scanned menu) is kept:
    the bot may still send it as it is.
    """
    if not data.strip():
        raise DocumentEmpty("the file is empty")
    doc = await extract(name, data, kind, limits=limits)
    chunks = chunk_sections(doc.sections)
    if not chunks and doc.kind != "pdf":
        raise DocumentEmpty()
    return doc.kind, doc.content_hash, chunks


log = structlog.get_logger(__name__)


class DocumentSync(Protocol):
    """Mirrors a stored document elsewhere (a File Search store); records failures, never raises."""

    async def stored(self, doc: KbDocument, data: bytes) -> bool: ...


async def ingest_document(
    db: Db,
    tenant_id: str,
    name: str,
    data: bytes,
    kind: SourceKind | None = None,
    *,
    sync: DocumentSync | None = None,
    limits: DocumentLimits | None = None,
    embedder: Embedder | None = None,
) -> KbDocument:
    """Extract, chunk and store a document (replacing one of the same name), then `sync` it.

    With an `embedder` the new chunks (and any other of the tenant's still without a vector)
    are embedded; an embeddings API failure is logged and leaves them lexically searchable.
    """
    kind, digest, chunks = await prepare_chunks(name, data, kind, limits=limits)
    doc = await knowledge.upsert_document(
        db, tenant_id, name, kind, digest, chunks, size_bytes=len(data)
    )
    if embedder is not None:
        try:
            await embed_missing(db, tenant_id, embedder)
        except Exception as exc:
            log.warning("document_embedding_failed", tenant_id=tenant_id, error=repr(exc)[:300])
    if sync is not None:
        await sync.stored(doc, data)
    return doc
