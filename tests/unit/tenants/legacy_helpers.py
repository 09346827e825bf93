"""The parse helpers as they were before `wacommon.tenants` (main at 87dee54; `llm_config` at
6d0ecfc, after the OpenRouter change), kept verbatim
as the oracle the typed sections are compared with: behaviour must not change."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from meta_gateway.form_config import DEFAULT_GREETING
from waai.llm.config import (
    OPENAI_COMPATIBLE,
    PROVIDERS,
    AISettings,
    LLMConfig,
    LLMConfigInvalid,
    Provider,
    _check_tenant_url,
)
from wacommon.conversation.business_hours import HoursDecision, _locate
from wacommon.conversation.commands import (
    DEFAULT_COMMANDS,
    DEFAULT_OPT_OUT_PHRASES,
    DEFAULT_PAUSE_HOURS,
    DEFAULT_REPLIES,
    Command,
    CommandAction,
    normalize,
)
from wacommon.conversation.followups import FollowupPlan, FollowupStage
from wacommon.tenants.contact_filter import canonical_phone
from wacommon.tenants.flags import truthy

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
    """Merge the tenant's `llm_config` over the defaults.

    No model anywhere (no `llm_config`, LLM_PROVIDER=offline) is the offline bot; a model
    asked for without a key to call it raises LLMConfigInvalid("missing_key").
    """
    raw = tools_config.get("llm_config") or {}
    if not isinstance(raw, Mapping):
        raise LLMConfigInvalid("llm_config must be an object")
    vendor = str(raw.get("provider") or defaults.llm_provider).strip().lower()
    if vendor not in PROVIDERS and vendor not in OPENAI_COMPATIBLE:
        raise LLMConfigInvalid(f"unknown llm provider {vendor!r}", "unknown_provider")
    tenant_key = raw.get("api_key")
    api_key = decrypt(tenant_key) if isinstance(tenant_key, str) and tenant_key else None
    base_url = _str_or_none(raw.get("base_url"))
    if base_url is not None:
        _check_tenant_url(base_url, defaults)
    provider: Provider = "openai" if vendor in OPENAI_COMPATIBLE else vendor  # type: ignore[assignment]
    model = _str_or_none(raw.get("model"))
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
        if vendor == "openai" and _str_or_none(raw.get("base_url")):
            api_key = "not-needed"
        else:
            raise LLMConfigInvalid(f"no api key for {vendor}", "missing_key")
    return LLMConfig(
        provider=provider,
        model=model,
        temperature=_number(raw, "temperature", defaults.llm_temperature),
        max_tokens=int(_number(raw, "max_tokens", defaults.llm_max_tokens)),
        api_key=api_key,
        base_url=base_url,
        history_messages=int(_number(raw, "history_messages", defaults.llm_history_messages)),
        history_hours=_number(raw, "history_hours", defaults.llm_history_hours),
        vendor=vendor,
        embedding_model=_str_or_none(raw.get("embedding_model")),
        query_rewrite=_flag(raw, "query_rewrite", defaults.query_rewrite),
    )


def _flag(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise LLMConfigInvalid(f"llm_config.{key} must be true or false")


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


_NEGATIONS = ("nao ", "não ", "nunca ")


def _config(tools_config: dict[str, Any]) -> dict[str, Any]:
    cfg = tools_config.get("commands")
    return cfg if isinstance(cfg, dict) else {}


def _words(value: Any, default: list[str]) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return default
    return [normalize(str(v)) for v in value if str(v).strip()]


def parse_customer_command(text: str, tools_config: dict[str, Any]) -> Command | None:
    cfg = _config(tools_config)
    if cfg.get("enabled") is False:
        return None
    norm = normalize(text)
    if not norm:
        return None
    first = re.split(r"[\s,.;:!?]+", norm, maxsplit=1)[0]
    for action in CommandAction:
        for word in _words(cfg.get(action.value), DEFAULT_COMMANDS[action.value]):
            if first == word or norm == word:
                return Command(action, word, _allowed(action, cfg))
    for phrase in _words(
        cfg.get("opt_out_phrases"), [normalize(p) for p in DEFAULT_OPT_OUT_PHRASES]
    ):
        at = norm.find(phrase)
        if at >= 0 and not norm[:at].endswith(_NEGATIONS):
            return Command(CommandAction.OPT_OUT, phrase)
    return None


def _allowed(action: CommandAction, cfg: dict[str, Any]) -> bool:
    if action is CommandAction.RESUME:
        return bool(cfg.get("customer_can_resume", False))
    if action is CommandAction.RESET:
        return bool(cfg.get("customer_can_reset", True))
    return True


def command_reply(tools_config: dict[str, Any], action: CommandAction) -> str | None:
    replies = _config(tools_config).get("replies")
    if isinstance(replies, dict) and action.value in replies:
        value = replies[action.value]
        return str(value) if value else None
    return DEFAULT_REPLIES[action.value]


def pause_hours(tools_config: dict[str, Any]) -> Any:
    return _config(tools_config).get("pause_hours", DEFAULT_PAUSE_HOURS)


def business_hours_decision(tools_config: dict[str, Any], now: datetime, tz: str) -> HoursDecision:
    cfg = tools_config.get("business_hours")
    if not isinstance(cfg, dict) or not truthy(cfg.get("active", False)):
        return HoursDecision(answer=True)
    mode = str(cfg.get("mode") or "dentro").lower()
    if mode == "sempre":
        return HoursDecision(answer=True)
    inside, boundary = _locate(cfg, now, ZoneInfo(tz))
    if (mode == "fora") != inside:
        return HoursDecision(answer=True)
    kind = "open" if inside else "closed"
    key = f"{kind}:{boundary.isoformat() if boundary else 'never'}"
    message_key = "on_message" if inside else "off_message"
    message = cfg.get(message_key) or None
    return HoursDecision(
        answer=False, off_message=str(message) if message else None, period_key=key
    )


def human_pause_until(
    tools_config: dict[str, Any], human_timeout_s: int | None, now: datetime, text: str | None
) -> datetime | None:
    cfg = tools_config.get("atendimento_humano")
    cfg = cfg if isinstance(cfg, dict) else {}
    if truthy(cfg.get("permanent_on_human_reply")) or _has_stop_trigger(tools_config, text):
        return None
    minutes = cfg.get("timeout_minutes")
    if isinstance(minutes, int | float | str) and str(minutes).strip():
        try:
            return now + timedelta(minutes=float(minutes))
        except ValueError:
            pass
    return now + timedelta(seconds=human_timeout_s) if human_timeout_s else None


def _has_stop_trigger(tools_config: dict[str, Any], text: str | None) -> bool:
    if not text:
        return False
    cfg = tools_config.get("desativar_ia")
    raw = cfg.get("instructions", "") if isinstance(cfg, dict) else ""
    triggers = [t.strip().lower() for t in str(raw).split(",") if t.strip()] + ["🛑"]
    lowered = text.lower()
    return any(t in lowered for t in triggers)


def form_config(tools_config: dict[str, Any], default_rate: int) -> tuple[Any, ...]:
    """`meta_gateway.form_config.FormConfig.of` as a tuple of its fields."""
    raw = tools_config.get("form_context")
    cfg: dict[str, Any] = raw if isinstance(raw, dict) else {"active": raw is True}
    template = cfg.get("template")
    return (
        cfg.get("active") is True,
        cfg.get("send_greeting") is True,
        str(cfg.get("greeting") or DEFAULT_GREETING),
        template if isinstance(template, dict) and template else None,
        str(cfg["secret"]) if cfg.get("secret") else None,
        _form_int(cfg.get("rate_limit_per_minute"), default_rate),
        _form_float(cfg.get("greeting_cooldown_hours"), 24.0),
    )


def _form_int(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def _form_float(value: Any, default: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    return float(value) if ok else default


MAX_SPAN = 366 * 24 * 60


def _minutes(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if number != number:  # NaN
        return default
    return min(max(0.0, number), float(MAX_SPAN))


def parse_plan(config: dict[str, Any] | None) -> FollowupPlan:
    cfg = config or {}
    stages: list[FollowupStage] = []
    for i, raw in enumerate(s for s in cfg.get("stages") or [] if isinstance(s, dict)):
        kind = str(raw.get("type") or "text").lower()
        template = raw.get("template")
        stages.append(
            FollowupStage(
                index=i,
                kind=kind,
                delay=timedelta(minutes=_minutes(raw.get("delay_minutes"), 60.0)),
                instruction=str(raw.get("prompt") or raw.get("instruction") or ""),
                message=str(raw.get("message") or raw.get("text") or ""),
                media_url=raw.get("media_url") or raw.get("audio_url"),
                template=template if isinstance(template, dict) and template.get("name") else None,
            )
        )
    limit = cfg.get("max_stages")
    if isinstance(limit, int) and limit >= 0:
        stages = stages[:limit]
    hours = cfg.get("allowed_hours")
    reminder_template = cfg.get("reminder_template")
    return FollowupPlan(
        active=truthy(cfg.get("active", False)) and bool(stages),
        stages=stages,
        allowed_hours=hours if isinstance(hours, dict) else {},
        conversion_window=timedelta(hours=_minutes(cfg.get("conversion_window_hours"), 24.0)),
        reminder_template=reminder_template if isinstance(reminder_template, dict) else None,
    )
