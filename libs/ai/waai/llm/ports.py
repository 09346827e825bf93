"""What the responders need from the knowledge base, as a port (the retriever lives elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class PassageLike(Protocol):
    """A retrieved passage: its document's name, its text and its relevance."""

    @property
    def document(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def score(self) -> float: ...


class Retriever(Protocol):
    """Ranked passages of a tenant's knowledge base for a query."""

    async def search(self, tenant_id: str, query: str, k: int) -> Sequence[PassageLike]: ...


class NoRetriever:
    """A retriever with an empty knowledge base."""

    async def search(self, tenant_id: str, query: str, k: int) -> Sequence[PassageLike]:
        return []
