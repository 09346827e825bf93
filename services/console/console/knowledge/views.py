"""A tenant's documents as the API answers them and the page lists them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from waai.knowledge.file_search import FileSearchState
from waai.knowledge.file_search_store import SyncState, SyncStatus
from waai.knowledge.library import KnowledgeBase
from wacommon.repositories.knowledge import KbDocument


class SyncOut(BaseModel):
    state: SyncState
    error: str | None = None
    synced_at: datetime | None = None


class DocumentOut(BaseModel):
    id: str
    name: str
    kind: str
    # None for documents stored before sizes were kept
    size_bytes: int | None
    passages: int
    created_at: datetime
    updated_at: datetime
    # File Search copy; None while the tenant's switch is off
    file_search: SyncOut | None = None


class FileSearchOut(BaseModel):
    enabled: bool
    # "inactive": switched on, but the tenant's model is not Gemini with a key
    state: FileSearchState


class KnowledgeOut(BaseModel):
    max_bytes: int
    file_search: FileSearchOut
    documents: list[DocumentOut]


def document_out(doc: KbDocument, sync: SyncStatus | None = None) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        name=doc.name,
        kind=doc.source_kind,
        size_bytes=doc.size_bytes,
        passages=doc.chunk_count,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
        file_search=SyncOut(state=sync.state, error=sync.error, synced_at=sync.synced_at)
        if sync
        else None,
    )


async def knowledge_out(knowledge: KnowledgeBase, tenant: str) -> KnowledgeOut:
    """The documents, each with its File Search status when the switch is on."""
    state = await knowledge.file_search_state(tenant)
    statuses = await knowledge.sync_statuses(tenant) if state != "off" else {}
    docs = [document_out(d, statuses.get(d.id)) for d in await knowledge.documents(tenant)]
    return KnowledgeOut(
        max_bytes=knowledge.max_bytes,
        file_search=FileSearchOut(enabled=state != "off", state=state),
        documents=docs,
    )


def size_label(size: int | None) -> str:
    """ "12 KB", "3,4 MB" (Brazilian decimal comma); "—" when unknown."""
    if size is None:
        return "—"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def any_pending(out: KnowledgeOut) -> bool:
    """Whether a File Search sync may still change a status (the list keeps polling)."""
    return out.file_search.state == "on" and any(
        d.file_search is not None and d.file_search.state == "pending" for d in out.documents
    )
