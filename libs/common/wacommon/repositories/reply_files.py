"""Files the bot may send as they are (`kb_files`): stored, listed, found, queued."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from wacommon.infra.dbtypes import Executor as Db

# what WhatsApp takes as an image or a document; others are refused at upload
FILE_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
IMAGE_MAX_BYTES = 5 * 1024 * 1024
DOCUMENT_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReplyFile:
    """A sendable file, without its bytes."""

    id: str
    name: str
    mime_type: str
    description: str
    size: int

    @property
    def kind(self) -> str:
        """The outbound message kind it goes as."""
        return "image" if self.mime_type.startswith("image/") else "document"


def mime_for(name: str) -> str | None:
    """The file's type from its extension, None when the bot cannot send it as a file."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return FILE_TYPES.get(ext)


def size_limit(mime_type: str) -> int:
    return IMAGE_MAX_BYTES if mime_type.startswith("image/") else DOCUMENT_MAX_BYTES


async def store_file(
    db: Db,
    tenant_id: str,
    name: str,
    mime_type: str,
    data: bytes,
    *,
    description: str = "",
    document_id: str | None = None,
) -> ReplyFile:
    """Add or replace (same name) a tenant's file."""
    row = await db.fetchrow(
        """INSERT INTO kb_files (client_id, name, mime_type, description, data, document_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (client_id, name) DO UPDATE SET mime_type = EXCLUDED.mime_type,
               description = EXCLUDED.description, data = EXCLUDED.data,
               document_id = EXCLUDED.document_id, updated_at = now()
           RETURNING id, name, mime_type, description, octet_length(data) AS size""",
        tenant_id,
        name,
        mime_type,
        description,
        data,
        document_id,
    )
    assert row is not None
    return _file(row)


async def list_files(db: Db, tenant_id: str) -> list[ReplyFile]:
    rows = await db.fetch(
        "SELECT id, name, mime_type, description, octet_length(data) AS size FROM kb_files"
        " WHERE client_id = $1 ORDER BY name",
        tenant_id,
    )
    return [_file(r) for r in rows]


async def delete_file(db: Db, tenant_id: str, file_id: str) -> bool:
    status = await db.execute(
        "DELETE FROM kb_files WHERE client_id = $1 AND id = $2::uuid", tenant_id, file_id
    )
    return str(status).endswith(" 1")


def find(files: list[ReplyFile], wanted: str) -> ReplyFile | None:
    """The file a name points at: exact, then without accents, case or extension."""
    key = fold(wanted)
    for f in files:
        if f.name == wanted:
            return f
    for f in files:
        if fold(f.name) == key or fold(f.name.rsplit(".", 1)[0]) == key:
            return f
    return None


def fold(text: str) -> str:
    """Lower case, no accents, words joined by single spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


async def queue_for_messages(db: Db, tenant_id: str, sends: list[tuple[str, str]]) -> None:
    """Copy each file's bytes to the outbox row with that idempotency key (file id, key)."""
    for file_id, key in sends:
        await db.execute(
            """INSERT INTO outbound_media (message_id, client_id, mime_type, filename, data)
               SELECT m.id, m.client_id, f.mime_type, f.name, f.data
               FROM chat_messages m JOIN kb_files f ON f.client_id = m.client_id
                 AND f.id = $3::uuid
               WHERE m.client_id = $1 AND m.idempotency_key = $2
               ON CONFLICT (message_id) DO NOTHING""",
            tenant_id,
            key,
            file_id,
        )


def _file(row: Any) -> ReplyFile:
    return ReplyFile(
        id=str(row["id"]),
        name=row["name"],
        mime_type=row["mime_type"],
        description=row["description"],
        size=int(row["size"]),
    )


async def queue_bytes(
    db: Db, tenant_id: str, key: str, mime_type: str, filename: str, data: bytes
) -> None:
    """Store bytes made for one outbox row (a voice note) for the sender to upload."""
    await db.execute(
        """INSERT INTO outbound_media (message_id, client_id, mime_type, filename, data)
           SELECT m.id, m.client_id, $3, $4, $5 FROM chat_messages m
           WHERE m.client_id = $1 AND m.idempotency_key = $2
           ON CONFLICT (message_id) DO NOTHING""",
        tenant_id,
        key,
        mime_type,
        filename,
        data,
    )
