"""Mirror a tenant's documents into its Gemini File Search store; local retrieval never depends on it."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

import asyncpg
import structlog
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from waai.knowledge import file_search_store as fs
from waai.llm.clients import llm_clients
from waai.llm.config import AISettings, LLMConfig, llm_config
from wacommon.repositories.knowledge import Db, KbDocument

log = structlog.get_logger(__name__)

MIME_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "text/csv",
    "html": "text/html",
}

FileSearchState = Literal["off", "on", "inactive"]


class FileSearchFailed(Exception):
    """The File Search API did not do what was asked."""


def file_search_enabled(tools_config: Mapping[str, Any]) -> bool:
    """True when the tenant's `llm_config.file_search` is switched on."""
    raw = tools_config.get("llm_config")
    value = raw.get("file_search") if isinstance(raw, Mapping) else None
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "sim"}
    return value is True


class FileSearchSync:
    """Keeps one Gemini client's File Search stores in step with the local documents."""

    def __init__(
        self,
        db: Db,
        client: genai.Client,
        *,
        poll_interval_s: float = 2.0,
        poll_timeout_s: float = 120.0,
    ) -> None:
        self._db = db
        self._client = client
        self._poll_interval_s = poll_interval_s
        self._poll_timeout_s = poll_timeout_s

    async def store_for(self, tenant_id: str) -> str:
        """The tenant's store name, creating the store on first use (once, even concurrently)."""
        name = await fs.store_name(self._db, tenant_id)
        if name:
            return name
        async with _connection(self._db) as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"kb_file_search:{tenant_id}"
            )
            name = await fs.store_name(conn, tenant_id)
            if name:
                return name
            store = await self._client.aio.file_search_stores.create(
                config=types.CreateFileSearchStoreConfig(display_name=f"wa-{tenant_id}")
            )
            if not store.name:
                raise FileSearchFailed("the created store has no name")
            await fs.save_store(conn, tenant_id, store.name)
            log.info("file_search_store_created", tenant_id=tenant_id, store=store.name)
            return store.name

    async def stored(self, doc: KbDocument, data: bytes) -> bool:
        """Upload a stored (new or replaced) document; a failure is recorded, never raised."""
        cid = doc.tenant_id
        try:
            old = await fs.remote_copy(self._db, cid, doc.id)
            if old and old.document_name and old.content_hash == doc.content_hash:
                return True
            store = await self.store_for(cid)
            if old and old.document_name:
                await self.removed(cid, old.document_name)
            remote = await self._upload(store, doc, data)
            await fs.mark_synced(self._db, cid, doc.id, remote, doc.content_hash)
        except Exception as exc:
            # the local document is already stored and searchable: record why, keep going
            error = _describe(exc)
            log.warning("file_search_sync_failed", tenant_id=cid, document=doc.name, error=error)
            with contextlib.suppress(Exception):
                await fs.mark_failed(self._db, cid, doc.id, error)
            return False
        log.info("file_search_synced", tenant_id=cid, document=doc.name, remote=remote)
        await self._retry_orphans(cid)
        return True

    async def remote_name(self, tenant_id: str, document_id: str) -> str | None:
        """The remote copy of a local document, read before the local row is deleted."""
        copy = await fs.remote_copy(self._db, tenant_id, document_id)
        return copy.document_name if copy else None

    async def removed(self, tenant_id: str, remote: str) -> bool:
        """Delete a remote document; a failure leaves it as an orphan retried later."""
        try:
            await self._delete(remote)
        except Exception as exc:
            error = _describe(exc)
            log.warning(
                "file_search_delete_failed", tenant_id=tenant_id, remote=remote, error=error
            )
            with contextlib.suppress(Exception):
                await fs.add_orphan(self._db, tenant_id, remote, error)
            return False
        return True

    async def _upload(self, store: str, doc: KbDocument, data: bytes) -> str:
        op = await self._client.aio.file_search_stores.upload_to_file_search_store(
            file_search_store_name=store,
            file=io.BytesIO(data),
            config=types.UploadToFileSearchStoreConfig(
                display_name=doc.name, mime_type=MIME_TYPES.get(doc.source_kind, "text/plain")
            ),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._poll_timeout_s
        while not op.done:
            if loop.time() > deadline:
                raise FileSearchFailed(f"upload still processing after {self._poll_timeout_s}s")
            await asyncio.sleep(self._poll_interval_s)
            op = await self._client.aio.operations.get(op)
        if op.error:
            raise FileSearchFailed(f"upload failed: {op.error}")
        name = op.response.document_name if op.response else None
        if not name:
            raise FileSearchFailed("the upload named no document")
        return name

    async def _delete(self, remote: str) -> None:
        try:
            await self._client.aio.file_search_stores.documents.delete(
                name=remote, config=types.DeleteDocumentConfig(force=True)
            )
        except genai_errors.ClientError as exc:
            if exc.code != 404:  # already gone is what we wanted
                raise

    async def _retry_orphans(self, tenant_id: str) -> None:
        with contextlib.suppress(Exception):
            for remote in await fs.orphans(self._db, tenant_id):
                try:
                    await self._delete(remote)
                except Exception:
                    return  # the API is still unhappy: next sync
                await fs.drop_orphan(self._db, tenant_id, remote)


class FileSearchSyncs:
    """Builds the File Search sync a tenant's `tools_config` asks for, with its own SDK clients."""

    def __init__(
        self,
        ai: AISettings,
        decrypt: Callable[[str], str],
        *,
        poll_interval_s: float = 2.0,
        poll_timeout_s: float = 120.0,
    ) -> None:
        self._ai = ai
        self._decrypt = decrypt
        self._poll = (poll_interval_s, poll_timeout_s)

    @contextlib.asynccontextmanager
    async def open(
        self, db: Db, tools_config: Mapping[str, Any]
    ) -> AsyncIterator[FileSearchSync | None]:
        """The tenant's sync (None unless Gemini with `file_search` and a key), closed after."""
        config = self._gemini(tools_config) if file_search_enabled(tools_config) else None
        if config is None or not config.api_key:
            yield None
            return
        clients = llm_clients(self._ai)
        try:
            yield FileSearchSync(
                db,
                clients.gemini(config.api_key, config.base_url),
                poll_interval_s=self._poll[0],
                poll_timeout_s=self._poll[1],
            )
        finally:
            await clients.aclose()

    def state(self, tools_config: Mapping[str, Any]) -> FileSearchState:
        """ "off" (switched off), "on" (switched on and the tenant answers with Gemini), or
        "inactive" (switched on, but the tenant's model is not a Gemini one with a key)."""
        if not file_search_enabled(tools_config):
            return "off"
        config = self._gemini(tools_config)
        return "on" if config is not None and config.api_key else "inactive"

    def _gemini(self, tools_config: Mapping[str, Any]) -> LLMConfig | None:
        try:
            config = llm_config(tools_config, self._ai, self._decrypt)
        except ValueError as exc:
            log.warning("file_search_config_invalid", error=str(exc))
            return None
        return config if config.provider == "gemini" else None


@contextlib.asynccontextmanager
async def _connection(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn  # type: ignore[misc]
    else:
        yield db


def _describe(exc: Exception) -> str:
    if isinstance(exc, genai_errors.APIError):
        return f"gemini HTTP {exc.code}: {exc.message or exc.status or ''}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]
