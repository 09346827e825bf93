"""A tenant's knowledge base as the operator's admin API and the owner's console both manage
it: add (or replace by name), list with File Search status, delete, resync, ask.

The checks an upload goes through (size, name, kind, the bounded parse of hostile files,
emptiness) live here once; the HTTP layers only turn the exceptions into their answers.
A failed upload changes nothing: the document is stored (with its chunks, replacing the
old one) in one transaction only after the file was read.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from waai.knowledge import file_search_store as fs
from waai.knowledge.bot_retrieval import BotRetrieval, retrieve_as_bot
from waai.knowledge.embeddings import Embedders
from waai.knowledge.extract import DocumentLimits, source_kind
from waai.knowledge.file_search import FileSearchState, FileSearchSyncs
from waai.knowledge.ingest import ingest_document
from waai.llm.clients import llm_clients
from waai.llm.config import AISettings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import knowledge as kb
from wacommon.repositories import reply_files
from wacommon.repositories.knowledge import KbDocument

MAX_NAME_CHARS = 200


class DocumentTooLarge(ValueError):
    """The file is over the deployment's cap (`KNOWLEDGE_MAX_BYTES`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"document over {limit // (1024 * 1024)} MB")
        self.limit = limit


class DocumentNameInvalid(ValueError):
    """A document name must be 1 to 200 characters without NUL."""


def document_name(raw: str) -> str:
    """The name a document is stored (and replaced) under, checked."""
    name = raw.strip()
    if not name or len(name) > MAX_NAME_CHARS or "\x00" in name:
        raise DocumentNameInvalid(f"a name of 1 to {MAX_NAME_CHARS} characters without NUL")
    return name


class KnowledgeBase:
    """One deployment's knowledge bases, each call scoped to one tenant (`tenant_id`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        ai: AISettings,
        decrypt: Callable[[str], str],
        limits: DocumentLimits,
        *,
        max_bytes: int,
        file_search: FileSearchSyncs | None = None,
        embedders: Embedders | None = None,
    ) -> None:
        self._pool = pool
        self._ai = ai
        self._decrypt = decrypt
        self.limits = limits
        self.max_bytes = max_bytes
        self.syncs = file_search or FileSearchSyncs(ai, decrypt)
        self._embedders = embedders or Embedders(ai, decrypt)

    async def tools_config(self, tenant_id: str) -> dict[str, Any]:
        row = await clients_repo.get_client(self._pool, tenant_id)
        return dict(row["tools_config"] or {}) if row else {}

    async def add(
        self, tenant_id: str, name: str, data: bytes, *, keep_pdf: bool = True
    ) -> KbDocument:
        """Read, chunk and store a file under `name`, replacing the tenant's document of that
        name; embed it and mirror it to File Search when the tenant has them.

        Raises DocumentTooLarge, DocumentNameInvalid, DocumentNotSupported, DocumentUnreadable
        (DocumentEmpty among them) before anything is written. A PDF also becomes a file the
        bot may send as it is (`keep_pdf`).
        """
        name = document_name(name)
        if len(data) > self.max_bytes:
            raise DocumentTooLarge(self.max_bytes)
        source_kind(name)  # an unsupported kind fails before the parse
        config = await self.tools_config(tenant_id)
        async with (
            self.syncs.open(self._pool, config) as sync,
            self._embedders.open(config) as embedder,
        ):
            doc = await ingest_document(
                self._pool, tenant_id, name, data, sync=sync, limits=self.limits, embedder=embedder
            )
        mime = reply_files.mime_for(name)
        if keep_pdf and mime == "application/pdf":
            await reply_files.store_file(
                self._pool, tenant_id, name, mime, data, document_id=doc.id
            )
        return doc

    async def documents(self, tenant_id: str) -> list[KbDocument]:
        return await kb.list_documents(self._pool, tenant_id)

    async def sync_statuses(self, tenant_id: str) -> dict[str, fs.SyncStatus]:
        return await fs.sync_statuses(self._pool, tenant_id)

    async def delete(self, tenant_id: str, document_id: str) -> bool:
        """Remove a document (gone from retrieval at once) and its remote copy; False when
        the tenant has no such document (another tenant's id included)."""
        try:
            uuid.UUID(document_id)
        except ValueError:
            return False
        async with self.syncs.open(self._pool, await self.tools_config(tenant_id)) as sync:
            remote = await sync.remote_name(tenant_id, document_id) if sync else None
            if not await kb.delete_document(self._pool, tenant_id, document_id):
                return False
            if sync and remote:
                await sync.removed(tenant_id, remote)
        return True

    async def file_search_state(self, tenant_id: str) -> FileSearchState:
        return self.syncs.state(await self.tools_config(tenant_id))

    async def switch_file_search(self, tenant_id: str, enabled: bool) -> FileSearchState:
        """Turn the tenant's File Search on or off; its state afterwards."""
        await fs.set_switch(self._pool, tenant_id, enabled)
        return await self.file_search_state(tenant_id)

    async def sync_pending(self, tenant_id: str) -> int:
        """Mirror every document whose remote copy is missing or stale; how many got synced.

        Only the text is kept locally, so a document stored before the switch was on goes
        up as that text (Markdown); a failure is recorded on the document, never raised.
        """
        synced = 0
        async with self.syncs.open(self._pool, await self.tools_config(tenant_id)) as sync:
            if sync is None:
                return 0
            for doc_id in await fs.unsynced(self._pool, tenant_id):
                doc = await kb.get_document(self._pool, tenant_id, doc_id)
                if doc is None:
                    continue  # deleted meanwhile
                text = await kb.document_text(self._pool, tenant_id, doc_id)
                as_text = dataclasses.replace(doc, source_kind="md")
                if await sync.stored(as_text, text.encode()):
                    synced += 1
        return synced

    async def ask(self, tenant_id: str, question: str) -> BotRetrieval:
        """The passages the tenant's bot would read for a customer writing `question`."""
        config = await self.tools_config(tenant_id)
        clients = llm_clients(self._ai)
        try:
            return await retrieve_as_bot(
                self._pool,
                tenant_id,
                config,
                question,
                settings=self._ai,
                decrypt=self._decrypt,
                clients=clients,
            )
        finally:
            await clients.aclose()
