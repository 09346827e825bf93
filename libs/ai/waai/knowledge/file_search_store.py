"""All SQL about File Search sync: a tenant's store and each document's remote copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from wacommon.repositories.knowledge import Db

SyncState = Literal["pending", "synced", "failed"]

# how many orphaned remote documents one sync retries to delete
ORPHAN_BATCH = 20


@dataclass(frozen=True)
class RemoteCopy:
    """A document's remote copy in the store, and the content hash it holds."""

    document_name: str | None
    content_hash: str | None


async def store_name(db: Db, tenant_id: str) -> str | None:
    """The tenant's File Search store, or None before the first sync."""
    value = await db.fetchval(
        "SELECT store_name FROM kb_file_search WHERE client_id = $1", tenant_id
    )
    return str(value) if value else None


async def save_store(db: Db, tenant_id: str, name: str) -> None:
    """Remember the tenant's store."""
    await db.execute(
        "INSERT INTO kb_file_search (client_id, store_name) VALUES ($1, $2)"
        " ON CONFLICT (client_id) DO UPDATE SET store_name = EXCLUDED.store_name",
        tenant_id,
        name,
    )


async def remote_copy(db: Db, tenant_id: str, document_id: str) -> RemoteCopy | None:
    """The remote copy recorded for a local document; None when the document is unknown."""
    row = await db.fetchrow(
        "SELECT fs_document, fs_content_hash FROM kb_documents WHERE client_id = $1 AND id = $2",
        tenant_id,
        document_id,
    )
    return RemoteCopy(row["fs_document"], row["fs_content_hash"]) if row else None


async def mark_synced(
    db: Db, tenant_id: str, document_id: str, remote: str, content_hash: str
) -> None:
    """Record a successful upload."""
    await db.execute(
        "UPDATE kb_documents SET fs_document = $3, fs_content_hash = $4, fs_synced_at = now(),"
        " fs_error = NULL WHERE client_id = $1 AND id = $2",
        tenant_id,
        document_id,
        remote,
        content_hash,
    )


async def mark_failed(db: Db, tenant_id: str, document_id: str, error: str) -> None:
    """Record a failed upload; the old remote copy (if any) is no longer this document's."""
    await db.execute(
        "UPDATE kb_documents SET fs_document = NULL, fs_content_hash = NULL, fs_error = $3"
        " WHERE client_id = $1 AND id = $2",
        tenant_id,
        document_id,
        error[:500],
    )


@dataclass(frozen=True)
class SyncStatus:
    """Where a local document stands in the tenant's store."""

    state: SyncState
    error: str | None
    synced_at: datetime | None


async def sync_statuses(db: Db, tenant_id: str) -> dict[str, SyncStatus]:
    """Every document's status by id: synced when the remote copy holds the current content,
    failed when the last try recorded an error, else pending (never tried, or replaced since)."""
    rows = await db.fetch(
        "SELECT id::text AS id, content_hash, fs_document, fs_content_hash, fs_error,"
        " fs_synced_at FROM kb_documents WHERE client_id = $1",
        tenant_id,
    )
    out: dict[str, SyncStatus] = {}
    for r in rows:
        state: SyncState = "pending"
        if r["fs_document"] and r["fs_content_hash"] == r["content_hash"]:
            state = "synced"
        elif r["fs_error"]:
            state = "failed"
        out[r["id"]] = SyncStatus(state, r["fs_error"], r["fs_synced_at"])
    return out


async def unsynced(db: Db, tenant_id: str) -> list[str]:
    """Ids of the tenant's documents whose remote copy is missing or stale, oldest first."""
    rows = await db.fetch(
        "SELECT id::text AS id FROM kb_documents WHERE client_id = $1 AND (fs_document IS NULL"
        " OR fs_content_hash IS DISTINCT FROM content_hash) ORDER BY created_at, id",
        tenant_id,
    )
    return [str(r["id"]) for r in rows]


async def sync_error(db: Db, tenant_id: str, document_id: str) -> str | None:
    """Why the last sync of a document failed, or None."""
    value = await db.fetchval(
        "SELECT fs_error FROM kb_documents WHERE client_id = $1 AND id = $2",
        tenant_id,
        document_id,
    )
    return str(value) if value else None


async def add_orphan(db: Db, tenant_id: str, document_name: str, error: str) -> None:
    """Remember a remote document that could not be deleted."""
    await db.execute(
        "INSERT INTO kb_file_search_orphans (client_id, document_name, error) VALUES ($1, $2, $3)"
        " ON CONFLICT (client_id, document_name) DO UPDATE SET error = EXCLUDED.error",
        tenant_id,
        document_name,
        error[:500],
    )


async def orphans(db: Db, tenant_id: str) -> list[str]:
    """Remote documents of the tenant still waiting to be deleted, oldest first."""
    rows = await db.fetch(
        "SELECT document_name FROM kb_file_search_orphans WHERE client_id = $1"
        " ORDER BY created_at LIMIT $2",
        tenant_id,
        ORPHAN_BATCH,
    )
    return [str(r["document_name"]) for r in rows]


async def drop_orphan(db: Db, tenant_id: str, document_name: str) -> None:
    """Forget an orphan once it is deleted remotely."""
    await db.execute(
        "DELETE FROM kb_file_search_orphans WHERE client_id = $1 AND document_name = $2",
        tenant_id,
        document_name,
    )


async def set_switch(db: Db, tenant_id: str, enabled: bool) -> bool:
    """Turn the tenant's `llm_config.file_search` on or off, leaving the rest of its
    configuration as it is; False when the tenant does not exist."""
    status = await db.execute(
        "UPDATE clients SET tools_config = tools_config || jsonb_build_object('llm_config',"
        " CASE WHEN jsonb_typeof(tools_config->'llm_config') = 'object'"
        " THEN tools_config->'llm_config' ELSE '{}'::jsonb END"
        " || jsonb_build_object('file_search', $2::boolean)), updated_at = now()"
        " WHERE id = $1",
        tenant_id,
        enabled,
    )
    return str(status).endswith(" 1")
