"""Per-tenant LLM configuration from `tools_config["llm_config"]`, over deployment defaults."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

from wacommon.tenants.sections import WHOLE, LLMSection, parse_section

Provider = Literal["openai", "gemini", "offline"]
PROVIDERS: tuple[Provider, ...] = ("openai", "gemini", "offline")


@dataclass(frozen=True)
class AISettings:
    """Deployment-wide AI settings; the service builds it from its Settings and passes it down."""

    llm_provider: Provider = "offline"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    llm_temperature: float = 0.4
    llm_max_tokens: int = 800
    llm_history_messages: int = 20
    llm_history_hours: float = 24.0
    retrieval_k: int = 4
    llm_max_tool_steps: int = 5
    llm_timeout_s: float = 60.0
    tool_timeout_s: float = 15.0
    bubble_max_chars: int = 1000
    transcribe_model: str = "gpt-4o-mini-transcribe"
    vision_model: str = "gemini-2.5-flash"
    audio_max_bytes: int = 16 * 1024 * 1024
    audio_max_seconds: float = 600.0
    image_max_bytes: int = 8 * 1024 * 1024
    pdf_max_pages: int = 30
    pdf_max_chars: int = 20000
    viacep_url: str = "https://viacep.com.br"
    custom_tool_max_bytes: int = 4000
    # hosts a custom tool or CRM webhook may reach over http or on private addresses
    tool_allowed_hosts: frozenset[str] = field(default_factory=frozenset)


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


class LLMConfigInvalid(ValueError):
    """A tenant's `llm_config` names an unknown provider or a value of the wrong type."""


def llm_config(
    tools_config: Mapping[str, Any], defaults: AISettings, decrypt: Callable[[str], str]
) -> LLMConfig:
    """Merge the tenant's `llm_config` (secrets still sealed) over the defaults."""
    section = parse_section(LLMSection, tools_config.get("llm_config") or None, "llm")
    if section.api_key is not None:
        opened = decrypt(section.api_key.get_secret_value())
        section = section.model_copy(update={"api_key": SecretStr(opened) if opened else None})
    return llm_config_of(section, defaults)


def llm_config_of(section: LLMSection, defaults: AISettings) -> LLMConfig:
    """Merge the tenant's typed `llm` section over the defaults; no usable key means offline."""
    if WHOLE in section.invalid:
        raise LLMConfigInvalid("llm_config must be an object")
    for key in section.invalid:
        raise LLMConfigInvalid(f"llm_config.{key} must be a number")
    provider = section.provider or defaults.llm_provider
    if provider not in PROVIDERS:
        raise LLMConfigInvalid(f"unknown llm provider {provider!r}")
    api_key = section.api_key.get_secret_value() if section.api_key is not None else None
    base_url = section.base_url
    if provider == "openai":
        api_key = api_key or defaults.openai_api_key
        base_url = base_url or defaults.openai_base_url
        model = section.model or defaults.openai_model
    elif provider == "gemini":
        api_key = api_key or defaults.gemini_api_key
        base_url = base_url or defaults.gemini_base_url
        model = section.model or defaults.gemini_model
    else:
        model = "offline"
    if provider != "offline" and not api_key:
        # a self-hosted OpenAI-compatible server may need no key; the SDK still wants one
        if provider == "openai" and section.base_url:
            api_key = "not-needed"
        else:
            provider, model = "offline", "offline"
    return LLMConfig(
        provider=provider,  # type: ignore[arg-type]
        model=model,
        temperature=_or(section.temperature, defaults.llm_temperature),
        max_tokens=int(_or(section.max_tokens, defaults.llm_max_tokens)),
        api_key=api_key,
        base_url=base_url,
        history_messages=int(_or(section.history_messages, defaults.llm_history_messages)),
        history_hours=_or(section.history_hours, defaults.llm_history_hours),
    )


def _or(value: float | None, default: float) -> float:
    return float(default) if value is None else value


def ai_settings_from_env(env: Mapping[str, str]) -> AISettings:
    """AISettings from environment variables (names in upper case of the fields)."""
    base = AISettings()
    values: dict[str, Any] = {}
    for name in base.__dataclass_fields__:
        raw = env.get(name.upper())
        if raw is None or raw == "":
            continue
        current = getattr(base, name)
        if isinstance(current, frozenset):
            values[name] = frozenset(h.strip().lower() for h in raw.split(",") if h.strip())
        elif isinstance(current, bool):
            values[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        elif isinstance(current, int | float):
            values[name] = type(current)(raw)
        else:
            values[name] = raw
    provider = values.get("llm_provider", base.llm_provider)
    if provider not in PROVIDERS:
        raise LLMConfigInvalid(f"LLM_PROVIDER must be one of {PROVIDERS}")
    return AISettings(**values)
