"""Dense vectors for the knowledge base: the tenant's embedding model, computed at import.

A tenant whose `llm_config` has a usable OpenAI (or OpenAI-compatible) or Gemini key gets its
chunks embedded when a document is stored, and its questions embedded at retrieval; the two
rankings are fused (see `retrieval.py`). `llm_config.embedding_model` names another model, or
`"off"` to keep the tenant lexical only. Without a key nothing here runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import structlog
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, LLMConfig, llm_config
from wacommon.repositories import knowledge_vectors as vectors
from wacommon.repositories.knowledge import Db

log = structlog.get_logger(__name__)

Purpose = Literal["query", "document"]
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
GEMINI_EMBEDDING_MODEL = "gemini-embedding-001"
GEMINI_DIMENSIONS = 768
# texts per embeddings request (both APIs take far more; this keeps one request small)
BATCH = 64


class Embedder(Protocol):
    """Turns texts into vectors with one model; `model` names the vectors it writes."""

    @property
    def model(self) -> str: ...

    async def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]: ...


class OpenAIEmbedder:
    """`POST /embeddings` of OpenAI or any OpenAI-compatible server."""

    def __init__(self, client: AsyncOpenAI, model: str = OPENAI_EMBEDDING_MODEL) -> None:
        self._client = client
        self._model = model

    @property
    def model(self) -> str:
        return f"openai:{self._model}"

    async def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        """One vector per text, in order."""
        result = await self._client.embeddings.create(
            model=self._model, input=list(texts), encoding_format="float"
        )
        return [list(item.embedding) for item in sorted(result.data, key=lambda d: d.index)]


class GeminiEmbedder:
    """Gemini `batchEmbedContents`, with the retrieval task type of each side."""

    def __init__(
        self,
        client: genai.Client,
        model: str = GEMINI_EMBEDDING_MODEL,
        dimensions: int = GEMINI_DIMENSIONS,
    ) -> None:
        self._client = client
        self._model = model
        self._dimensions = dimensions

    @property
    def model(self) -> str:
        return f"gemini:{self._model}:{self._dimensions}"

    async def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        """One vector per text, in order."""
        task = "RETRIEVAL_QUERY" if purpose == "query" else "RETRIEVAL_DOCUMENT"
        result = await self._client.aio.models.embed_content(
            model=self._model,
            contents=list(texts),
            config=types.EmbedContentConfig(task_type=task, output_dimensionality=self._dimensions),
        )
        return [list(e.values or []) for e in result.embeddings or []]


def embedder_for(config: LLMConfig, clients: LLMClients) -> Embedder | None:
    """The tenant's embedder, or None (offline, no key, or `embedding_model: "off"`)."""
    if config.provider == "offline" or not config.api_key or config.embedding_model == "off":
        return None
    if config.provider == "openai":
        client = clients.openai(config.api_key, config.base_url)
        return OpenAIEmbedder(client, config.embedding_model or OPENAI_EMBEDDING_MODEL)
    client_g = clients.gemini(config.api_key, config.base_url)
    return GeminiEmbedder(client_g, config.embedding_model or GEMINI_EMBEDDING_MODEL)


class Embedders:
    """Opens the embedder a tenant's `tools_config` asks for, with its own SDK clients."""

    def __init__(self, ai: AISettings, decrypt: Callable[[str], str]) -> None:
        self._ai = ai
        self._decrypt = decrypt

    @contextlib.asynccontextmanager
    async def open(self, tools_config: Mapping[str, Any]) -> AsyncIterator[Embedder | None]:
        """The tenant's embedder (None without one), its clients closed after."""
        try:
            config = llm_config(tools_config, self._ai, self._decrypt)
        except ValueError as exc:
            log.warning("embedding_config_invalid", error=str(exc))
            yield None
            return
        clients = LLMClients(timeout_s=self._ai.llm_timeout_s)
        try:
            yield embedder_for(config, clients)
        finally:
            await clients.aclose()


async def embed_missing(db: Db, tenant_id: str, embedder: Embedder) -> int:
    """Embed the tenant's chunks that have no vector of this model yet; how many were stored.

    Raises what the provider raises: the caller decides whether a failed embedding matters
    (at import it does not: the chunks stay searchable lexically and a later import or
    `make ingest` fills the gap).
    """
    missing = await vectors.chunks_without_vector(db, tenant_id, embedder.model)
    stored = 0
    for start in range(0, len(missing), BATCH):
        batch = missing[start : start + BATCH]
        found = await embedder.embed([c.text for c in batch], "document")
        if len(found) != len(batch):
            raise ValueError(f"{len(found)} vectors for {len(batch)} texts")
        await vectors.store_vectors(
            db, tenant_id, embedder.model, [(c.id, v) for c, v in zip(batch, found, strict=True)]
        )
        stored += len(batch)
    return stored
