"""The parse helpers as they were before `wacommon.tenants` (main at 87dee54), kept verbatim
as the oracle the typed sections are compared with: behaviour must not change."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from waai.llm.config import PROVIDERS, AISettings, LLMConfig, LLMConfigInvalid
from wacommon.contact_filter import canonical_phone

HISTORY_MESSAGES = 20
HISTORY_HOURS = 72
DEFAULT_MAX_WAIT_S = 30.0
META_DEFAULT_QUIET_MS = 2000


def debounce_ms(tools_config: dict[str, Any], meta: bool) -> tuple[int, int, int, tuple[str, ...]]:
    """`DebounceConfig.from_tools_config` + `debounce_config` as a tuple."""
    quiet_d, wait_d, burst_d = 6000, 30000, 20
    raw = tools_config.get("debounce") if isinstance(tools_config, dict) else None
    if not isinstance(raw, dict):
        out = (quiet_d, wait_d, burst_d, ())
    else:
        quiet = _seconds_ms(raw.get("quiet_seconds"), quiet_d)
        max_wait = _seconds_ms(raw.get("max_wait_seconds"), wait_d)
        try:
            max_burst = max(1, int(raw.get("max_burst", burst_d)))
        except (TypeError, ValueError):
            max_burst = burst_d
        words = raw.get("flush_keywords") or ()
        if isinstance(words, str):
            words = [w for w in words.split(",")]
        keywords = tuple(str(w).strip().casefold() for w in words if str(w).strip())
        out = (quiet, max(max_wait, quiet), max_burst, keywords)
    if meta and "debounce" not in tools_config:
        out = (META_DEFAULT_QUIET_MS, *out[1:])
    return out


def _seconds_ms(value: Any, default_ms: int) -> int:
    try:
        return max(0, round(float(value) * 1000)) if value is not None else default_ms
    except (TypeError, ValueError):
        return default_ms


def window(tools_config: dict[str, Any]) -> tuple[int, float]:
    llm = tools_config.get("llm_config") or {}
    if not isinstance(llm, dict):
        llm = {}
    messages, hours = llm.get("history_messages"), llm.get("history_hours")
    try:
        return (
            HISTORY_MESSAGES if messages in (None, "") else int(float(messages)),
            HISTORY_HOURS if hours in (None, "") else float(hours),
        )
    except (TypeError, ValueError):
        return HISTORY_MESSAGES, HISTORY_HOURS


def max_wait_s(tools_config: dict[str, Any]) -> float:
    """The threshold `context_window.overdue` compared with."""
    raw = tools_config.get("debounce")
    value = raw.get("max_wait_seconds") if isinstance(raw, dict) else None
    try:
        return DEFAULT_MAX_WAIT_S if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return DEFAULT_MAX_WAIT_S


def llm_config(
    tools_config: Mapping[str, Any], defaults: AISettings, decrypt: Callable[[str], str]
) -> LLMConfig:
    raw = tools_config.get("llm_config") or {}
    if not isinstance(raw, Mapping):
        raise LLMConfigInvalid("llm_config must be an object")
    provider = str(raw.get("provider") or defaults.llm_provider).lower()
    if provider not in PROVIDERS:
        raise LLMConfigInvalid(f"unknown llm provider {provider!r}")
    tenant_key = raw.get("api_key")
    api_key = decrypt(tenant_key) if isinstance(tenant_key, str) and tenant_key else None
    base_url = _str_or_none(raw.get("base_url"))
    if provider == "openai":
        api_key = api_key or defaults.openai_api_key
        base_url = base_url or defaults.openai_base_url
        model = _str_or_none(raw.get("model")) or defaults.openai_model
    elif provider == "gemini":
        api_key = api_key or defaults.gemini_api_key
        base_url = base_url or defaults.gemini_base_url
        model = _str_or_none(raw.get("model")) or defaults.gemini_model
    else:
        model = "offline"
    if provider != "offline" and not api_key:
        if provider == "openai" and _str_or_none(raw.get("base_url")):
            api_key = "not-needed"
        else:
            provider, model = "offline", "offline"
    return LLMConfig(
        provider=provider,  # type: ignore[arg-type]
        model=model,
        temperature=_number(raw, "temperature", defaults.llm_temperature),
        max_tokens=int(_number(raw, "max_tokens", defaults.llm_max_tokens)),
        api_key=api_key,
        base_url=base_url,
        history_messages=int(_number(raw, "history_messages", defaults.llm_history_messages)),
        history_hours=_number(raw, "history_hours", defaults.llm_history_hours),
    )


def _str_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _number(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    if value is None or value == "":
        return float(default)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise LLMConfigInvalid(f"llm_config.{key} must be a number") from exc


def _numbers(value: Any) -> set[str]:
    if isinstance(value, str):
        value = re.split(r"[,;\s]+", value)
    if not isinstance(value, list):
        return set()
    return {canonical_phone(str(v)) for v in value if re.sub(r"\D", "", str(v))}


def contact_allowed(
    tools_config: dict[str, Any], contact_phone: str | None, is_group: bool
) -> tuple[bool, str | None]:
    if is_group and not tools_config.get("groups_enabled"):
        return False, "group"
    lists = tools_config.get("security_lists")
    if not isinstance(lists, dict) or lists.get("active") is False:
        return True, None
    phone = canonical_phone(contact_phone) if contact_phone else None
    if phone and phone in _numbers(lists.get("blocked_numbers")):
        return False, "blocked"
    allowed = _numbers(lists.get("allowed_numbers"))
    if allowed and phone not in allowed:
        return False, "not_allowed"
    return True, None


def mark_read(tools_config: dict[str, Any]) -> bool:
    return tools_config.get("mark_read", True) is not False
