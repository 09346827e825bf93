"""The sections the AI layer reads: the tenant's model (`llm_config`) and persona."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator

from wacommon.tenants.sections.base import Section, number_or_none, stripped_or_none


class LLMSection(Section):
    """`tools_config["llm_config"]`: the tenant's model over the deployment's defaults."""

    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: float | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    history_messages: float | None = None
    history_hours: float | None = None
    # the embeddings model of dense retrieval (None: the provider's default; "off": none)
    embedding_model: str | None = None
    # rewrite the customer's last messages into a search query (None: the deployment's default)
    query_rewrite: bool | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> str | None:
        return str(value).strip().lower() if value else None

    @field_validator("query_rewrite", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise ValueError("must be true or false")

    @field_validator("model", "base_url", "embedding_model", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return stripped_or_none(value)

    @field_validator("api_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    @field_validator(
        "temperature", "max_tokens", "history_messages", "history_hours", mode="before"
    )
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return number_or_none(value)


# the seed's business kinds (`clients.business_type` of the system we replace)
BUSINESS_TYPES = ("generic", "isp", "varejo", "servicos", "food", "saude")


class PersonaSection(Section):
    """`tools_config["persona"]`: who the bot is, besides the system prompt column."""

    business_type: str | None = None
    tone: str | None = None
    # the first reply of a new conversation opens with this (the model is told to)
    greeting: str | None = None

    @field_validator("business_type", "tone", "greeting", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return stripped_or_none(value)
