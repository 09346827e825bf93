"""Per-tenant LLM configuration from `tools_config["llm_config"]`, over deployment defaults."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wacommon.infra.netguard import is_public
from wacommon.tenants.sections.ai import LLMSection
from wacommon.tenants.sections.base import WHOLE, parse_section

Provider = Literal["openai", "gemini", "offline"]
PROVIDERS: tuple[Provider, ...] = ("openai", "gemini", "offline")
# vendors that speak the OpenAI chat completions API at their own base URL
OPENAI_COMPATIBLE = ("openrouter", "openai_compatible")
OPENROUTER_URL = "https://openrouter.ai/api/v1"


class AISettings(BaseSettings):
    """Deployment-wide AI settings, from the environment and `.env` like every other setting.

    Built once in a service's composition root and passed down; tests build it with keywords.
    """

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_file_encoding="utf-8", frozen=True
    )

    # a Provider or "openrouter" (a tenant's llm_config may name any of OPENAI_COMPATIBLE)
    llm_provider: str = "offline"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    openrouter_api_key: str | None = None
    openrouter_base_url: str = OPENROUTER_URL
    openrouter_model: str = "openai/gpt-4o-mini"
    llm_temperature: float = 0.4
    llm_max_tokens: int = 800
    llm_history_messages: int = 20
    llm_history_hours: float = 24.0
    retrieval_k: int = 4
    # default of llm_config.query_rewrite (off until measured with a real model: docs/retrieval.md)
    query_rewrite: bool = False
    llm_max_tool_steps: int = 5
    llm_timeout_s: float = 60.0
    tool_timeout_s: float = 15.0
    bubble_max_chars: int = 1000
    transcribe_model: str = "gpt-4o-mini-transcribe"
    # voice replies (tools_config.voice_replies): OpenAI or Gemini text-to-speech, Ogg/Opus
    tts_model: str = "gpt-4o-mini-tts"
    tts_voice: str = "alloy"
    gemini_tts_model: str = "gemini-2.5-flash-preview-tts"
    gemini_tts_voice: str = "Kore"
    tts_max_chars: int = 1200
    vision_model: str = "gemini-2.5-flash"
    audio_max_bytes: int = 16 * 1024 * 1024
    audio_max_seconds: float = 600.0
    image_max_bytes: int = 8 * 1024 * 1024
    pdf_max_pages: int = 30
    pdf_max_chars: int = 20000
    viacep_url: str = "https://viacep.com.br"
    custom_tool_max_bytes: int = 4000
    # hosts a custom tool or CRM webhook may reach over http or on private addresses
    tool_allowed_hosts: Annotated[frozenset[str], NoDecode] = frozenset()
    # reais per US dollar, for the monthly budgets in R$ (METRICS_USD_BRL, as the console's)
    metrics_usd_brl: float = 5.40

    @field_validator("llm_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in (*PROVIDERS, "openrouter"):
            raise ValueError(f"LLM_PROVIDER must be one of {(*PROVIDERS, 'openrouter')}")
        return value

    @field_validator("tool_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> frozenset[str]:
        # the environment gives "erp.local, 10.0.0.5"; code gives any iterable of hosts
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Iterable):
            raise ValueError("TOOL_ALLOWED_HOSTS is a comma-separated list of hosts")
        return frozenset(str(h).strip().lower() for h in items if str(h).strip())


@dataclass(frozen=True)
class LLMConfig:
    """The LLM a tenant's replies use, with its key already decrypted."""

    provider: Provider
    model: str
    temperature: float
    max_tokens: int
    api_key: str | None
    base_url: str | None
    history_messages: int
    history_hours: float
    # what the tenant asked for ("openrouter" runs on the "openai" client)
    vendor: str = ""
    # the embeddings model of dense retrieval (None: the provider's default; "off": none)
    embedding_model: str | None = None
    # rewrite the customer's last messages into a search query with the model before retrieval
    query_rewrite: bool = False


class LLMConfigInvalid(ValueError):
    """A tenant's `llm_config` cannot work: unknown provider, wrong type, no key.

    `reason` is a short code for the `llm_misconfigured` event and the metric.
    """

    def __init__(self, message: str, reason: str = "invalid_config") -> None:
        super().__init__(message)
        self.reason = reason


def llm_config(
    tools_config: Mapping[str, Any], defaults: AISettings, decrypt: Callable[[str], str]
) -> LLMConfig:
    """Merge the tenant's `llm_config` (secrets still sealed) over the defaults."""
    section = parse_section(LLMSection, tools_config.get("llm_config") or None, "llm")
    if section.api_key is not None:
        opened = decrypt(section.api_key.get_secret_value())
        section = section.model_copy(update={"api_key": SecretStr(opened) if opened else None})
    return llm_config_of(section, defaults)


# the order the values were checked in, so the first error named is the same as before
_NUMBERS = ("temperature", "max_tokens", "history_messages", "history_hours")


def llm_config_of(section: LLMSection, defaults: AISettings) -> LLMConfig:
    """Merge the tenant's typed `llm` section over the defaults.

    No model anywhere (no `llm_config`, LLM_PROVIDER=offline) is the offline bot; a model
    asked for without a key to call it raises LLMConfigInvalid("missing_key").
    """
    if WHOLE in section.invalid:
        raise LLMConfigInvalid("llm_config must be an object")
    vendor = (
        section.provider
        if section.provider is not None
        else str(defaults.llm_provider).strip().lower()
    )
    if vendor not in PROVIDERS and vendor not in OPENAI_COMPATIBLE:
        raise LLMConfigInvalid(f"unknown llm provider {vendor!r}", "unknown_provider")
    api_key = section.api_key.get_secret_value() if section.api_key is not None else None
    base_url = section.base_url
    if base_url is not None:
        _check_tenant_url(base_url, defaults)
    provider: Provider = "openai" if vendor in OPENAI_COMPATIBLE else vendor  # type: ignore[assignment]
    model = section.model
    if vendor == "openai":
        api_key = api_key or defaults.openai_api_key
        base_url = base_url or defaults.openai_base_url
        model = model or defaults.openai_model
    elif vendor == "openrouter":
        api_key = api_key or defaults.openrouter_api_key
        base_url = base_url or defaults.openrouter_base_url
        model = model or defaults.openrouter_model
    elif vendor == "openai_compatible":
        if base_url is None:
            raise LLMConfigInvalid(
                "openai_compatible needs llm_config.base_url", "missing_base_url"
            )
        if model is None:
            raise LLMConfigInvalid("openai_compatible needs llm_config.model", "missing_model")
        # a self-hosted server may need no key; the SDK still wants one
        api_key = api_key or "not-needed"
    elif vendor == "gemini":
        api_key = api_key or defaults.gemini_api_key
        base_url = base_url or defaults.gemini_base_url
        model = model or defaults.gemini_model
    else:
        model = "offline"
    if provider != "offline" and not api_key:
        # a self-hosted OpenAI-compatible server may need no key; the SDK still wants one
        if vendor == "openai" and section.base_url:
            api_key = "not-needed"
        else:
            raise LLMConfigInvalid(f"no api key for {vendor}", "missing_key")
    for key in _NUMBERS:
        if key in section.invalid:
            raise LLMConfigInvalid(f"llm_config.{key} must be a number")
    if "query_rewrite" in section.invalid:
        raise LLMConfigInvalid("llm_config.query_rewrite must be true or false")
    return LLMConfig(
        provider=provider,
        model=model,
        temperature=_or(section.temperature, defaults.llm_temperature),
        max_tokens=int(_or(section.max_tokens, defaults.llm_max_tokens)),
        api_key=api_key,
        base_url=base_url,
        history_messages=int(_or(section.history_messages, defaults.llm_history_messages)),
        history_hours=_or(section.history_hours, defaults.llm_history_hours),
        vendor=vendor,
        embedding_model=section.embedding_model,
        query_rewrite=(
            defaults.query_rewrite if section.query_rewrite is None else section.query_rewrite
        ),
    )


def _or(value: float | None, default: float) -> float:
    return float(default) if value is None else value


def _check_tenant_url(url: str, defaults: AISettings) -> None:
    """Refuse early what the guarded client would refuse at connect time, with a reason.

    A tenant's base URL is https on a public address; the operator's hosts
    (TOOL_ALLOWED_HOSTS, the deployment's own base URLs) are exempt. Names are resolved
    by the guard when the connection opens (wacommon.infra.netguard), literal addresses here.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise LLMConfigInvalid("llm_config.base_url is not a URL", "base_url_blocked") from None
    host = parsed.host.lower()
    operator = {
        *defaults.tool_allowed_hosts,
        *(httpx.URL(u).host for u in (defaults.openai_base_url, defaults.gemini_base_url) if u),
        httpx.URL(defaults.openrouter_base_url).host,
    }
    if host and host in operator:
        return
    if parsed.scheme != "https" or not host or parsed.userinfo:
        raise LLMConfigInvalid(
            "llm_config.base_url must be an https URL without credentials", "base_url_blocked"
        )
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if not is_public(str(literal)):
        raise LLMConfigInvalid(
            "llm_config.base_url points to a private or reserved address", "base_url_blocked"
        )
