"""The configuration a replay tries: another prompt, model or knowledge base for one tenant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from waai.knowledge.embeddings import Embedder
from waai.llm.config import AISettings, LLMConfig, LLMConfigInvalid, llm_config
from waai.responders.responder import Tenant
from wacommon.repositories.knowledge_search import Passage
from wacommon.tenants.config import TenantConfig

Knowledge = Literal["current", "none"]
KNOWLEDGE_CHOICES: tuple[Knowledge, ...] = ("current", "none")
MAX_PROMPT_CHARS = 20_000


class CandidateInvalid(ValueError):
    """The candidate cannot run (no key for the provider asked for, an unknown one...)."""


@dataclass(frozen=True)
class Candidate:
    """What changes against the tenant's live configuration; None keeps the tenant's own."""

    # replaces the tenant's persona text (its system prompt)
    prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    # "none": answer as if the knowledge base were empty
    knowledge: Knowledge = "current"

    def describe(self) -> dict[str, Any]:
        """What the report says was tried."""
        return {
            "prompt": self.prompt is not None,
            "provider": self.provider,
            "model": self.model,
            "knowledge": self.knowledge,
        }


def candidate_tenant(config: TenantConfig, candidate: Candidate) -> Tenant:
    """The tenant as the responder sees it, with the candidate's changes applied."""
    tools = dict(config.tools_config)
    llm = dict(tools.get("llm_config") or {})
    if candidate.provider is not None and candidate.provider != llm.get("provider"):
        # the tenant's key and server are for its own provider, not the one tried
        llm = {k: v for k, v in llm.items() if k not in ("api_key", "base_url", "model")}
        llm["provider"] = candidate.provider
    if candidate.model is not None:
        llm["model"] = candidate.model
    if llm:
        tools["llm_config"] = llm
    prompt = config.system_prompt if candidate.prompt is None else candidate.prompt
    return Tenant(
        id=config.id,
        name=config.name,
        system_prompt=prompt,
        timezone=config.timezone,
        tools_config=tools,
    )


def checked_llm(tenant: Tenant, settings: AISettings, decrypt: Callable[[str], str]) -> LLMConfig:
    """The model the candidate answers with; `CandidateInvalid` when it cannot answer at all.

    The live pipeline would answer such a tenant offline and report it; a lab run asked
    for a model and says plainly that it cannot have it.
    """
    try:
        return llm_config(tenant.tools_config, settings, decrypt)
    except (LLMConfigInvalid, ValueError) as exc:
        raise CandidateInvalid(str(exc)) from exc


class EmptyKnowledge:
    """A knowledge base with nothing in it (the candidate's `knowledge="none"`)."""

    async def search(
        self, tenant_id: str, query: str, k: int = 3, *, embedder: Embedder | None = None
    ) -> list[Passage]:
        return []
