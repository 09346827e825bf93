"""One pydantic model per section of a tenant's configuration, as an owner edits it.

Each model reads the JSON the seed and the admin API wrote (`tools_config` keys, the
`followup_config` column) with the same coercions and defaults the parse helpers applied
before these models existed: numbers may arrive as strings, switches as words ("sim").
Keys a model does not know are kept (legacy tenants) but not typed. A value that cannot be
read falls back to its default, with a logged, counted warning (see `parse_section`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from wacommon.tenants.flags import truthy

log = structlog.get_logger(__name__)

INVALID = Counter(
    "wa_tenant_config_invalid_total",
    "Tenant configuration values unreadable, replaced by their defaults",
    ["section"],
)
# the whole section was not an object: every field took its default
WHOLE = "*"


class Section(BaseModel):
    """A configuration section; `invalid` names the keys that fell back to defaults."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    invalid: tuple[str, ...] = Field(default=(), exclude=True)


S = TypeVar("S", bound=Section)


def parse_section(model: type[S], raw: Any, section: str, tenant_id: str = "") -> S:
    """`raw` read as `model`; an unreadable value (or a non-object) takes its default."""
    if raw is None:
        return model()
    if not isinstance(raw, Mapping):
        _warn(section, tenant_id, (WHOLE,))
        return model(invalid=(WHOLE,))
    data = {k: v for k, v in raw.items() if k != "invalid"}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        bad = tuple(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
    _warn(section, tenant_id, bad)
    kept = {k: v for k, v in data.items() if k not in bad and _alias_of(model, k) not in bad}
    try:
        return model.model_validate({**kept, "invalid": bad})
    except ValidationError:
        return model(invalid=(WHOLE,))


def _alias_of(model: type[Section], key: str) -> str:
    for name, info in model.model_fields.items():
        if info.alias == key:
            return name
    return key


def _warn(section: str, tenant_id: str, keys: tuple[str, ...]) -> None:
    INVALID.labels(section).inc()
    log.warning("tenant_config_invalid", section=section, client_id=tenant_id, keys=list(keys))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _number_or_none(value: Any) -> float | None:
    """`None`/"" mean unset; anything `float()` reads is a number; the rest is invalid."""
    if _blank(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def _stripped_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


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
        return _stripped_or_none(value)

    @field_validator("api_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    @field_validator(
        "temperature", "max_tokens", "history_messages", "history_hours", mode="before"
    )
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _number_or_none(value)


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
        return _stripped_or_none(value)


class DebounceSection(Section):
    """`tools_config["debounce"]` (seconds): how long ingest waits for a burst to end."""

    quiet_seconds: float | None = None
    max_wait_seconds: float | None = None
    max_burst: int | None = None
    flush_keywords: tuple[str, ...] = ()

    @field_validator("quiet_seconds", "max_wait_seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a number: {value!r}") from exc

    @field_validator("max_burst", mode="before")
    @classmethod
    def _burst(cls, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return max(1, int(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an integer: {value!r}") from exc

    @field_validator("flush_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: Any) -> tuple[str, ...]:
        words = value or ()
        if isinstance(words, str):
            words = words.split(",")
        return tuple(str(w).strip().casefold() for w in words if str(w).strip())


class HandoverSection(Section):
    """`tools_config["atendimento_humano"]`: how long a human's reply pauses the bot."""

    timeout_minutes: float | None = None
    permanent_on_human_reply: bool = False
    instructions: str | None = None

    @field_validator("timeout_minutes", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> float | None:
        # a value of another type, or one float() refuses, means "no tenant timeout"
        if isinstance(value, int | float | str) and str(value).strip():
            try:
                return float(value)
            except ValueError:
                return None
        return None

    @field_validator("permanent_on_human_reply", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> bool:
        return truthy(value)


class StopTriggersSection(Section):
    """`tools_config["desativar_ia"]`: words in a human's message that pause the bot for good."""

    triggers: tuple[str, ...] = Field(default=(), alias="instructions")

    @field_validator("triggers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> tuple[str, ...]:
        # as the seed's reader did: any value is read as text (even null, as "none")
        return tuple(t.strip().lower() for t in str(value).split(",") if t.strip())


class ContactFilterSection(Section):
    """`tools_config["security_lists"]`: numbers the bot answers only, or never."""

    active: bool = True
    allowed_numbers: tuple[str, ...] = ()
    blocked_numbers: tuple[str, ...] = ()

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> bool:
        # only an explicit `false` turns the lists off (as before)
        return value is not False

    @field_validator("allowed_numbers", "blocked_numbers", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> tuple[str, ...]:
        from wacommon.tenants.contact_filter import phone_set

        return tuple(sorted(phone_set(value)))


class FormSection(Section):
    """`tools_config["form_context"]`: the public lead-form webhook (a bare `true` turns it on)."""

    active: bool = False
    send_greeting: bool = False
    greeting: str | None = None
    template: dict[str, Any] | None = None
    secret: SecretStr | None = None
    rate_limit_per_minute: int | None = None
    greeting_cooldown_hours: float | None = None

    @field_validator("active", "send_greeting", mode="before")
    @classmethod
    def _strict_switch(cls, value: Any) -> bool:
        return value is True

    @field_validator("greeting", mode="before")
    @classmethod
    def _greeting(cls, value: Any) -> str | None:
        return str(value) if value else None

    @field_validator("template", mode="before")
    @classmethod
    def _template(cls, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) and value else None

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> str | None:
        return str(value) if value else None

    @field_validator("rate_limit_per_minute", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return value if ok else None

    @field_validator("greeting_cooldown_hours", mode="before")
    @classmethod
    def _cooldown(cls, value: Any) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        return float(value) if ok else None


class HoursSection(Section):
    """`tools_config["business_hours"]`: opening hours, holidays and the off-hours reply.

    `schedule` and `holidays` keep the seed's shapes (day keys seg..dom or English names,
    "HH:MM" strings); `wacommon.conversation.business_hours` reads them.
    """

    active: bool = False
    mode: str = "dentro"
    schedule: dict[str, Any] = Field(default_factory=dict)
    holidays: list[Any] = Field(default_factory=list)
    # sent once per closed period ("dentro"), or once per open period in mode "fora"
    off_message: Any = None
    on_message: Any = None

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> bool:
        return truthy(value)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> str:
        return str(value or "dentro").lower()

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> list[Any]:
        return list(value) if isinstance(value, list) else []


class CommandsSection(Section):
    """`tools_config["commands"]`: the customer's #commands and what the bot answers them.

    The command lists stay as written (None: the defaults in `wacommon.conversation.commands`).
    """

    enabled: bool = True
    pause: Any = None
    resume: Any = None
    reset: Any = None
    opt_out: Any = None
    opt_out_phrases: Any = None
    customer_can_resume: bool = False
    customer_can_reset: bool = True
    # absent: the default pause; present but empty (0, null): a pause until resumed
    pause_hours: Any = 24
    replies: dict[str, Any] | None = None

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> bool:
        return value is not False

    @field_validator("customer_can_resume", "customer_can_reset", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return bool(value)

    @field_validator("replies", mode="before")
    @classmethod
    def _replies(cls, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) else None


# a year: a longer delay or window is a typo, and one past the date range broke every reply
MAX_SPAN_MINUTES = 366 * 24 * 60


def _span(value: Any, default: float) -> float:
    """A non-negative number at most MAX_SPAN_MINUTES; anything else is `default`."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if number != number:  # NaN
        return default
    return min(max(0.0, number), float(MAX_SPAN_MINUTES))


class FollowupStageSection(Section):
    """One follow-up: LLM text from `instruction`, a fixed `message`, or media at `media_url`.

    The seed's names are read too: `prompt` for `instruction`, `text` for `message`,
    `audio_url` for `media_url`.
    """

    type: str = "text"
    delay_minutes: float = 60.0
    instruction: str = ""
    message: str = ""
    media_url: Any = None
    # an approved template {name, language, components} for use outside the 24-hour window
    template: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = dict(raw)
        data["type"] = str(raw.get("type") or "text").lower()
        data["delay_minutes"] = _span(raw.get("delay_minutes"), 60.0)
        data["instruction"] = str(raw.get("prompt") or raw.get("instruction") or "")
        data["message"] = str(raw.get("message") or raw.get("text") or "")
        data["media_url"] = raw.get("media_url") or raw.get("audio_url")
        template = raw.get("template")
        data["template"] = template if isinstance(template, dict) and template.get("name") else None
        return data


class FollowupsSection(Section):
    """`clients.followup_config`: the follow-up stages, allowed hours and templates."""

    active: bool = False
    stages: tuple[FollowupStageSection, ...] = ()
    max_stages: int | None = None
    allowed_hours: dict[str, Any] = Field(default_factory=dict)
    conversion_window_hours: float = 24.0
    reminder_template: dict[str, Any] | None = None

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> bool:
        return truthy(value)

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> tuple[Any, ...]:
        return tuple(s for s in value or () if isinstance(s, dict))

    @field_validator("max_stages", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> int | None:
        return value if isinstance(value, int) and value >= 0 else None

    @field_validator("allowed_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    @field_validator("conversion_window_hours", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        return _span(value, 24.0)

    @field_validator("reminder_template", mode="before")
    @classmethod
    def _template(cls, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) else None
