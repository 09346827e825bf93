"""The first sections: persona, model, business hours, debounce, handover.

Each writes exactly the keys the services read (see `wacommon.tenants.config.STORED_AS`
and docs/console-settings.md): the persona is the `system_prompt` column and
`tools_config.persona`; the model is `tools_config.llm_config`; hours are the `timezone`
column and `tools_config.business_hours`; debounce is `tools_config.debounce`; handover
spans `tools_config.atendimento_humano`, `.desativar_ia` and `.commands`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import date
from functools import cache
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from console.bot_settings.base import (
    FieldError,
    SectionForm,
    Stored,
    keep_secret,
    masked,
    merge,
)
from waai.llm.config import AISettings
from wacommon.conversation.business_hours import DAY_KEYS
from wacommon.infra.netguard import is_public
from wacommon.tenants.sections.ai import BUSINESS_TYPES

Text = Annotated[str, Field(max_length=2000)]
Word = Annotated[str, Field(min_length=1, max_length=80)]
HHMM = Annotated[str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]


@cache
def ai_defaults() -> AISettings:
    """The deployment's AI defaults, read from the environment as the rag-worker reads them."""
    return AISettings()


def _words(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


class PersonaForm(SectionForm):
    section: ClassVar[str] = "persona"

    system_prompt: str | None = Field(None, max_length=20000)
    business_type: Literal[BUSINESS_TYPES] | None = None  # type: ignore[valid-type]
    tone: str | None = Field(None, max_length=200)
    greeting: str | None = Field(None, max_length=1000)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        persona = stored.part("persona")
        return {
            "system_prompt": stored.system_prompt,
            "business_type": persona.get("business_type") or "generic",
            "tone": persona.get("tone"),
            "greeting": persona.get("greeting"),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"system_prompt": "", "business_type": "generic", "tone": None, "greeting": None}

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if "system_prompt" in sent:
            stored.system_prompt = sent.pop("system_prompt") or ""
        if sent:
            stored.tools["persona"] = merge(stored.part("persona"), sent)


# "openrouter" stays for tenants that already name it (the OpenRouter base URL and key
# defaults of the deployment); new ones pick openai_compatible with a base URL
PROVIDERS = ("openai", "gemini", "openai_compatible", "openrouter")


class ModelForm(SectionForm):
    section: ClassVar[str] = "model"

    provider: Literal[PROVIDERS] | None = None  # type: ignore[valid-type]
    model: str | None = Field(None, max_length=200)
    base_url: str | None = Field(None, max_length=500)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=16, le=32000)
    history_messages: int | None = Field(None, ge=0, le=200)
    history_hours: float | None = Field(None, gt=0, le=24 * 90, allow_inf_nan=False)
    api_key: str | None = Field(None, max_length=1000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        allowed = (info.context or {}).get("allowed_hosts", frozenset())
        return check_base_url(value, allowed)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        llm = stored.part("llm_config")
        return {
            "provider": llm.get("provider"),
            "model": llm.get("model"),
            "base_url": llm.get("base_url"),
            "temperature": llm.get("temperature"),
            "max_tokens": llm.get("max_tokens"),
            "history_messages": llm.get("history_messages"),
            "history_hours": llm.get("history_hours"),
            "api_key": masked(llm.get("api_key")),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        ai = ai_defaults()
        return {
            "provider": ai.llm_provider,
            "model": {
                "openai": ai.openai_model,
                "gemini": ai.gemini_model,
                "openai_compatible": None,
                "openrouter": ai.openrouter_model,
            },
            "base_url": None,
            "temperature": ai.llm_temperature,
            "max_tokens": ai.llm_max_tokens,
            "history_messages": ai.llm_history_messages,
            "history_hours": ai.llm_history_hours,
            "api_key": None,
        }

    def apply(self, stored: Stored) -> None:
        current = stored.part("llm_config")
        sent = self.sent()
        if "api_key" in sent:
            sent["api_key"] = keep_secret(sent["api_key"], current.get("api_key"))
        stored.tools["llm_config"] = merge(current, sent)

    def check(self, stored: Stored) -> list[FieldError]:
        llm = stored.part("llm_config")
        if llm.get("provider") != "openai_compatible":
            return []
        errors = []
        if not llm.get("base_url"):
            errors.append(FieldError("base_url", "obrigatório para um servidor compatível"))
        if not llm.get("model"):
            errors.append(FieldError("model", "obrigatório para um servidor compatível"))
        return errors


def check_base_url(value: str, allowed_hosts: frozenset[str]) -> str:
    """An https URL on a public host (the operator's TOOL_ALLOWED_HOSTS are exempt); the
    guarded client checks resolved names again when a connection opens."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("não é uma URL válida") from None
    host = url.host.lower()
    if not host:
        raise ValueError("a URL precisa de um endereço (https://...)")
    if host in allowed_hosts:
        return value
    if url.scheme != "https" or url.userinfo:
        raise ValueError("use uma URL https sem usuário e senha")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return value
    if not is_public(str(literal)):
        raise ValueError("aponta para um endereço privado ou reservado")
    return value


Day = Literal["seg", "ter", "qua", "qui", "sex", "sab", "dom"]


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = True
    start: HHMM = "08:00"
    end: HHMM = "18:00"


_HOLIDAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


class HoursForm(SectionForm):
    section: ClassVar[str] = "hours"

    timezone: str | None = Field(None, max_length=64)
    active: bool | None = None
    mode: Literal["dentro", "fora", "sempre"] | None = None
    schedule: dict[Day, DayHours] | None = None
    holidays: list[Annotated[str, Field(max_length=10)]] | None = Field(None, max_length=366)
    off_message: str | None = Field(None, max_length=1000)
    on_message: str | None = Field(None, max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"fuso horário desconhecido: {value!r}") from None
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for text in value:
            if not text:
                continue
            if not _HOLIDAY.match(text):
                raise ValueError(f"{text!r} não é uma data (AAAA-MM-DD, ou MM-DD todo ano)")
            try:
                date.fromisoformat(text if len(text) == 10 else f"2024-{text}")
            except ValueError:
                raise ValueError(f"{text!r} não é uma data que exista") from None
            out.append(text)
        return _words(out)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        hours = stored.part("business_hours")
        raw = hours.get("schedule")
        schedule: dict[str, Any] = raw if isinstance(raw, dict) else {}
        by_day = {_day_key(k): v for k, v in schedule.items() if isinstance(v, dict)}
        return {
            "timezone": stored.timezone,
            "active": bool(hours.get("active", False)),
            "mode": str(hours.get("mode") or "dentro"),
            "schedule": {d: _day_view(by_day.get(d)) for d in DAY_KEYS},
            "holidays": [
                str(h.get("date") if isinstance(h, dict) else h)
                for h in hours.get("holidays") or []
            ],
            "off_message": hours.get("off_message"),
            "on_message": hours.get("on_message"),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "timezone": "America/Sao_Paulo",
            "active": False,
            "mode": "dentro",
            "schedule": {d: {"on": False, "start": "08:00", "end": "18:00"} for d in DAY_KEYS},
            "holidays": [],
            "off_message": None,
            "on_message": None,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if "timezone" in sent:
            stored.timezone = sent.pop("timezone") or "America/Sao_Paulo"
        if sent:
            stored.tools["business_hours"] = merge(stored.part("business_hours"), sent)


def _day_key(key: str) -> str:
    """ "Sábado" and "sab" alike (as wacommon.conversation.business_hours reads day keys)."""
    decomposed = unicodedata.normalize("NFKD", str(key).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:3]


def _day_view(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {"on": False, "start": "08:00", "end": "18:00"}
    on = spec.get("on", spec.get("active", True))
    return {
        "on": on is True or str(on).lower() in ("1", "true", "sim", "yes", "on"),
        "start": str(spec.get("start") or "08:00"),
        "end": str(spec.get("end") or "18:00"),
    }


class DebounceForm(SectionForm):
    section: ClassVar[str] = "debounce"

    quiet_seconds: float | None = Field(None, ge=0, le=120, allow_inf_nan=False)
    max_wait_seconds: float | None = Field(None, ge=0, le=600, allow_inf_nan=False)
    max_burst: int | None = Field(None, ge=1, le=100)
    flush_keywords: list[Word] | None = Field(None, max_length=50)

    @field_validator("flush_keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        return _words([v.casefold() for v in value]) if value is not None else None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("debounce")
        return {
            "quiet_seconds": cfg.get("quiet_seconds"),
            "max_wait_seconds": cfg.get("max_wait_seconds"),
            "max_burst": cfg.get("max_burst"),
            "flush_keywords": list(cfg.get("flush_keywords") or []),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        # lancepilot_ingest.bursts.DebounceConfig (Meta numbers without a `debounce` key
        # get the gateway's shorter default)
        return {
            "quiet_seconds": 6.0,
            "max_wait_seconds": 30.0,
            "max_burst": 20,
            "flush_keywords": [],
        }

    def apply(self, stored: Stored) -> None:
        stored.tools["debounce"] = merge(stored.part("debounce"), self.sent())

    def check(self, stored: Stored) -> list[FieldError]:
        cfg = stored.part("debounce")
        quiet, wait = cfg.get("quiet_seconds"), cfg.get("max_wait_seconds")
        if isinstance(quiet, int | float) and isinstance(wait, int | float) and wait < quiet:
            return [FieldError("max_wait_seconds", "não pode ser menor que a janela de silêncio")]
        return []


class HandoverForm(SectionForm):
    section: ClassVar[str] = "handover"

    # when the model should call a person (the transfer tool's instructions)
    instructions: str | None = Field(None, max_length=2000)
    timeout_minutes: float | None = Field(None, gt=0, le=30 * 24 * 60, allow_inf_nan=False)
    # after a person answers: the bot comes back when the timeout ends, or never by itself
    resume: Literal["after_timeout", "never"] | None = None
    # customer commands that hand the conversation to a person (e.g. #stop)
    pause_commands: list[Word] | None = Field(None, max_length=20)
    # words in a person's message that stop the bot in that conversation for good
    stop_words: list[Word] | None = Field(None, max_length=50)
    # whether the customer may bring the bot back with #ativar
    customer_can_resume: bool | None = None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        handover = stored.part("atendimento_humano")
        commands = stored.part("commands")
        stop = stored.part("desativar_ia").get("instructions")
        timeout = handover.get("timeout_minutes")
        if timeout is None and stored.human_attendant_timeout:
            timeout = stored.human_attendant_timeout / 60
        pause = commands.get("pause")
        return {
            "instructions": handover.get("instructions"),
            "timeout_minutes": timeout,
            "resume": "never" if handover.get("permanent_on_human_reply") else "after_timeout",
            "pause_commands": list(pause) if isinstance(pause, list) else ["#stop", "#pausa"],
            "stop_words": [w.strip() for w in str(stop or "").split(",") if w.strip()],
            "customer_can_resume": bool(commands.get("customer_can_resume", False)),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "instructions": None,
            "timeout_minutes": 60.0,
            "resume": "after_timeout",
            "pause_commands": ["#stop", "#pausa"],
            "stop_words": [],
            "customer_can_resume": False,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        handover: dict[str, Any] = {}
        for key in ("instructions", "timeout_minutes"):
            if key in sent:
                handover[key] = sent[key]
        if "resume" in sent:
            handover["permanent_on_human_reply"] = True if sent["resume"] == "never" else None
        if handover:
            stored.tools["atendimento_humano"] = merge(stored.part("atendimento_humano"), handover)
        commands: dict[str, Any] = {}
        if "pause_commands" in sent:
            commands["pause"] = _words(sent["pause_commands"]) or None
        if "customer_can_resume" in sent:
            commands["customer_can_resume"] = sent["customer_can_resume"]
        if commands:
            stored.tools["commands"] = merge(stored.part("commands"), commands)
        if "stop_words" in sent:
            words = ", ".join(_words(sent["stop_words"]) or [])
            stored.tools["desativar_ia"] = merge(
                stored.part("desativar_ia"), {"instructions": words or None}
            )
