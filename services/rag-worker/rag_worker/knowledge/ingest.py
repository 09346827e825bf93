"""A file's bytes to stored, searchable chunks: the one path the admin API and the CLI share."""

from __future__ import annotations

from rag_worker.knowledge.chunking import chunk_sections
from rag_worker.knowledge.extract import extract
from wacommon.repositories import knowledge
from wacommon.repositories.knowledge import ChunkIn, Db, KbDocument, SourceKind


def prepare_chunks(
    name: str, data: bytes, kind: SourceKind | None = None
) -> tuple[SourceKind, str, list[ChunkIn]]:
    """(kind, content hash, chunks) of a file; raises DocumentNotSupported/DocumentUnreadable."""
    doc = extract(name, data, kind)
    return doc.kind, doc.content_hash, chunk_sections(doc.sections)


async def ingest_document(
    db: Db, client_id: str, name: str, data: bytes, kind: SourceKind | None = None
) -> KbDocument:
    """Extract, chunk and store a document (replacing one of the same name)."""
    kind, digest, chunks = prepare_chunks(name, data, kind)
    return await knowledge.upsert_document(db, client_id, name, kind, digest, chunks)
