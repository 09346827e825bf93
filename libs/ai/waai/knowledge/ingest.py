"""A file's bytes to stored, searchable chunks: the one path the admin API and the CLI share."""

from __future__ import annotations

from typing import Protocol

from waai.knowledge.chunking import chunk_sections
from waai.knowledge.extract import DocumentLimits, extract
from wacommon.repositories import knowledge
from wacommon.repositories.knowledge import ChunkIn, Db, KbDocument, SourceKind


async def prepare_chunks(
    name: str, data: bytes, kind: SourceKind | None = None, *, limits: DocumentLimits | None = None
) -> tuple[SourceKind, str, list[ChunkIn]]:
    """(kind, content hash, chunks) of a file; raises DocumentNotSupported/DocumentUnreadable."""
    doc = await extract(name, data, kind, limits=limits)
    return doc.kind, doc.content_hash, chunk_sections(doc.sections)


class DocumentSync(Protocol):
    """Mirrors a stored document elsewhere (a File Search store); records failures, never raises."""

    async def stored(self, doc: KbDocument, data: bytes) -> bool: ...


async def ingest_document(
    db: Db,
    client_id: str,
    name: str,
    data: bytes,
    kind: SourceKind | None = None,
    *,
    sync: DocumentSync | None = None,
    limits: DocumentLimits | None = None,
) -> KbDocument:
    """Extract, chunk and store a document (replacing one of the same name), then `sync` it."""
    kind, digest, chunks = await prepare_chunks(name, data, kind, limits=limits)
    doc = await knowledge.upsert_document(db, client_id, name, kind, digest, chunks)
    if sync is not None:
        await sync.stored(doc, data)
    return doc
