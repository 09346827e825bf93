"""The other sections: follow-ups, opt-out phrases, allow/block lists and the tools.

Follow-ups are the `followup_config` column (read by `wacommon.conversation.followups.parse_plan`);
opt-out phrases are `tools_config.commands` (`wacommon.conversation.commands`); the lists are
`tools_config.security_lists` (`wacommon.tenants.contact_filter`); the tools are the keys
`waai.tools.catalog.build_toolbox` reads (`lookup_cep`, `calendar`, `crm`, `reminders`,
`custom_tools`) and `form_context` (the lead-form webhook of the meta-gateway).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from console.bot_settings.base import (
    FieldError,
    SectionForm,
    Stored,
    keep_secret,
    masked,
    merge,
)
from console.bot_settings.core import HHMM, Day, Word, check_base_url
from waai.tools.catalog import BUILTIN_NAMES
from waai.tools.custom_http import parse_custom_tool
from wacommon.conversation.business_hours import DAY_KEYS
from wacommon.conversation.commands import DEFAULT_OPT_OUT_PHRASES, DEFAULT_REPLIES
from wacommon.infra.crypto import MASK, keep_masked, mask
from wacommon.tenants.contact_filter import phone_set
from wacommon.tenants.sections.base import parse_section
from wacommon.tenants.sections.followups import MAX_SPAN_MINUTES, FollowupsSection

Phrase = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(min_length=1, max_length=32)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TemplateRef(Strict):
    """An approved WhatsApp template, for messages outside the 24-hour window."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field("pt_BR", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    components: list[dict[str, Any]] | None = Field(None, max_length=10)


class StageForm(Strict):
    type: Literal["text", "audio", "image", "video", "document"] = "text"
    delay_minutes: float = Field(ge=1, le=MAX_SPAN_MINUTES, allow_inf_nan=False)
    instruction: str = Field("", max_length=2000)
    message: str = Field("", max_length=4096)
    media_url: str | None = Field(None, max_length=1000)
    template: TemplateRef | None = None

    @field_validator("template", mode="before")
    @classmethod
    def _no_template(cls, value: Any) -> Any:
        # the page sends {"name": null, "language": "pt_BR"} for a stage without one
        if isinstance(value, dict) and not value.get("name"):
            return None
        return value

    @field_validator("media_url")
    @classmethod
    def _media(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        return check_base_url(value, (info.context or {}).get("allowed_hosts", frozenset()))


class AllowedHours(Strict):
    enabled: bool = False
    start: HHMM = "08:00"
    end: HHMM = "20:00"
    days: dict[Day, bool] | None = None


class FollowupsForm(SectionForm):
    section: ClassVar[str] = "followups"

    active: bool | None = None
    stages: list[StageForm] | None = Field(None, max_length=10)
    max_stages: int | None = Field(None, ge=0, le=10)
    allowed_hours: AllowedHours | None = None
    conversion_window_hours: float | None = Field(None, ge=0, le=24 * 30, allow_inf_nan=False)
    reminder_template: TemplateRef | None = None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        section = parse_section(FollowupsSection, stored.followup or None, "followups")
        hours = section.allowed_hours
        days = hours.get("days")
        return {
            "active": section.active,
            "stages": [
                {
                    "type": s.type,
                    "delay_minutes": s.delay_minutes,
                    "instruction": s.instruction,
                    "message": s.message,
                    "media_url": s.media_url,
                    "template": s.template,
                }
                for s in section.stages
            ],
            "max_stages": section.max_stages,
            "allowed_hours": {
                "enabled": bool(hours.get("enabled", False)),
                "start": str(hours.get("start") or "08:00"),
                "end": str(hours.get("end") or "20:00"),
                "days": (
                    {d: bool(days.get(d)) for d in DAY_KEYS}
                    if isinstance(days, dict)
                    else {d: d in DAY_KEYS[:5] for d in DAY_KEYS}
                ),
            },
            "conversion_window_hours": section.conversion_window_hours,
            "reminder_template": section.reminder_template,
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "active": False,
            "stages": [],
            "max_stages": None,
            "allowed_hours": {"enabled": False, "start": "08:00", "end": "20:00"},
            "conversion_window_hours": 24.0,
            "reminder_template": None,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if self.stages is not None:
            # the stored stages are replaced in the canonical names (readers take both)
            sent["stages"] = [
                {k: v for k, v in s.model_dump(mode="json", exclude_none=True).items() if v != ""}
                for s in self.stages
            ]
        if self.reminder_template is not None:
            sent["reminder_template"] = self.reminder_template.model_dump(exclude_none=True)
        stored.followup = merge(stored.followup, sent)

    def check(self, stored: Stored) -> list[FieldError]:
        errors = []
        for i, stage in enumerate(stored.followup.get("stages") or []):
            if not isinstance(stage, dict):
                continue
            kind = stage.get("type", "text")
            has_text = stage.get("message") or stage.get("instruction") or stage.get("prompt")
            if kind == "text" and not has_text and not stage.get("template"):
                errors.append(
                    FieldError(f"stages.{i}", "escreva a mensagem, a instrução ou um modelo")
                )
            if kind != "text" and not (stage.get("media_url") or stage.get("audio_url")):
                errors.append(FieldError(f"stages.{i}.media_url", "obrigatório para mídia"))
        return errors


class OptOutForm(SectionForm):
    section: ClassVar[str] = "optout"

    # phrases anywhere in a customer's message that stop every automatic message to them
    phrases: list[Phrase] | None = Field(None, max_length=100)
    # commands that do the same (e.g. #parar)
    commands: list[Word] | None = Field(None, max_length=20)
    reply: str | None = Field(None, max_length=1000)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("commands")
        phrases, commands = cfg.get("opt_out_phrases"), cfg.get("opt_out")
        replies = cfg.get("replies") if isinstance(cfg.get("replies"), dict) else {}
        return {
            "phrases": _listed(phrases, list(DEFAULT_OPT_OUT_PHRASES)),
            "commands": _listed(commands, ["#parar", "#desativar"]),
            "reply": (replies or {}).get("opt_out", DEFAULT_REPLIES["opt_out"]),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "phrases": list(DEFAULT_OPT_OUT_PHRASES),
            "commands": ["#parar", "#desativar"],
            "reply": DEFAULT_REPLIES["opt_out"],
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        cfg = stored.part("commands")
        values: dict[str, Any] = {}
        if "phrases" in sent:
            values["opt_out_phrases"] = sent["phrases"]
        if "commands" in sent:
            values["opt_out"] = sent["commands"]
        if "reply" in sent:
            replies = dict(cfg.get("replies") or {})
            if sent["reply"] is None:
                replies.pop("opt_out", None)
            else:
                replies["opt_out"] = sent["reply"]
            values["replies"] = replies or None
        stored.tools["commands"] = merge(cfg, values)


def _listed(value: Any, default: list[str]) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return default
    return [str(v).strip() for v in value if str(v).strip()]


class ContactsForm(SectionForm):
    section: ClassVar[str] = "contacts"

    active: bool | None = None
    # when not empty, the bot answers only these numbers
    allowed_numbers: list[Phone] | None = Field(None, max_length=5000)
    # the bot never answers these
    blocked_numbers: list[Phone] | None = Field(None, max_length=5000)

    @field_validator("allowed_numbers", "blocked_numbers")
    @classmethod
    def _phones(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for number in value:
            digits = "".join(c for c in number if c.isdigit())
            if not 8 <= len(digits) <= 15 or any(c.isalpha() for c in number):
                raise ValueError(f"{number!r} não é um número de telefone (8 a 15 dígitos)")
        return sorted(phone_set(value))

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("security_lists")
        return {
            "active": cfg.get("active") is not False,
            "allowed_numbers": sorted(phone_set(cfg.get("allowed_numbers"))),
            "blocked_numbers": sorted(phone_set(cfg.get("blocked_numbers"))),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"active": True, "allowed_numbers": [], "blocked_numbers": []}

    def apply(self, stored: Stored) -> None:
        stored.tools["security_lists"] = merge(stored.part("security_lists"), self.sent())


class ToolSwitch(Strict):
    active: bool | None = None
    instructions: str | None = Field(None, max_length=2000)


class CalendarTool(ToolSwitch):
    slot_minutes: int | None = Field(None, ge=5, le=480)
    days_ahead: int | None = Field(None, ge=1, le=365)


class CrmTool(ToolSwitch):
    webhook_url: str | None = Field(None, max_length=1000)
    webhook_headers: dict[Annotated[str, Field(max_length=100)], str] | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        return check_base_url(value, (info.context or {}).get("allowed_hosts", frozenset()))


class CustomTool(Strict):
    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
    description: str = Field("", max_length=1000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(max_length=2000)
    headers: dict[Annotated[str, Field(max_length=100)], str] = Field(default_factory=dict)
    parameters: dict[str, Any] | None = None
    instructions: str = Field("", max_length=2000)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BUILTIN_NAMES:
            raise ValueError(f"{value!r} é o nome de uma ferramenta embutida")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        host_part = value.split("://", 1)[-1].split("/", 1)[0]
        if "{" in host_part:
            raise ValueError("o endereço (host) não pode ter {campos}: só o caminho e a consulta")
        # placeholders in the path are filled by the model; check the URL without them
        probe = value.replace("{", "").replace("}", "")
        check_base_url(probe, (info.context or {}).get("allowed_hosts", frozenset()))
        return value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type", "object") != "object":
            raise ValueError('deve ser um JSON schema de objeto ({"type": "object", ...})')
        return value


class FormTool(Strict):
    active: bool | None = None
    send_greeting: bool | None = None
    greeting: str | None = Field(None, max_length=1000)
    # the mask keeps the stored secret; "" makes a new one
    secret: str | None = Field(None, max_length=200)
    rate_limit_per_minute: int | None = Field(None, ge=1, le=600)


# the `tools_config` keys of each built-in tool; the first present is the one read
_KEYS = {
    "cep": ("lookup_cep", "consultar_cep"),
    "calendar": ("calendar",),
    "crm": ("crm",),
    "reminders": ("reminders", "criar_lembrete"),
}


class ToolsForm(SectionForm):
    section: ClassVar[str] = "tools"

    cep: ToolSwitch | None = None
    calendar: CalendarTool | None = None
    crm: CrmTool | None = None
    reminders: ToolSwitch | None = None
    custom_tools: list[CustomTool] | None = Field(None, max_length=30)
    form: FormTool | None = None

    @field_validator("custom_tools")
    @classmethod
    def _unique(cls, value: list[CustomTool] | None) -> list[CustomTool] | None:
        names = [t.name for t in value or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"nomes repetidos: {', '.join(twice)}")
        for tool in value or []:
            parse_custom_tool(tool.model_dump())
        return value

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, keys in _KEYS.items():
            key = next((k for k in keys if k in stored.tools), keys[0])
            cfg = stored.part(key)
            present = key in stored.tools
            out[name] = {
                "active": present and _on(cfg.get("active", True)),
                "instructions": cfg.get("instructions"),
            }
            if name == "calendar":
                out[name].update(
                    slot_minutes=cfg.get("slot_minutes", 30), days_ahead=cfg.get("days_ahead", 30)
                )
            if name == "crm":
                out[name].update(
                    webhook_url=cfg.get("webhook_url"),
                    webhook_headers=mask({"headers": cfg.get("webhook_headers") or {}})["headers"],
                )
        custom = stored.tools.get("custom_tools")
        out["custom_tools"] = [
            # every secret of a definition masked (headers, and any secret-named key)
            {**mask(t), "headers": mask({"headers": t.get("headers") or {}})["headers"]}
            for t in (custom if isinstance(custom, list) else [])
            if isinstance(t, dict)
        ]
        form = stored.part("form_context")
        out["form"] = {
            "active": form.get("active") is True,
            "send_greeting": form.get("send_greeting") is True,
            "greeting": form.get("greeting"),
            "secret": masked(form.get("secret")),
            "rate_limit_per_minute": form.get("rate_limit_per_minute"),
        }
        return out

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        off = {"active": False, "instructions": None}
        return {
            "cep": off,
            "calendar": {**off, "slot_minutes": 30, "days_ahead": 30},
            "crm": {**off, "webhook_url": None, "webhook_headers": {}},
            "reminders": off,
            "custom_tools": [],
            "form": {"active": False, "send_greeting": False, "greeting": None, "secret": None},
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        for name, keys in _KEYS.items():
            if sent.get(name) is None:
                continue
            key = next((k for k in keys if k in stored.tools), keys[0])
            values = dict(sent[name])
            current = stored.part(key)
            if "webhook_headers" in values and values["webhook_headers"] is not None:
                values["webhook_headers"] = keep_masked(
                    {"headers": values["webhook_headers"]},
                    {"headers": current.get("webhook_headers") or {}},
                )["headers"]
            stored.tools[key] = merge(current, values)
        if "custom_tools" in sent:
            old = stored.tools.get("custom_tools")
            new = [
                {k: v for k, v in t.items() if v is not None} for t in sent["custom_tools"] or []
            ]
            stored.tools["custom_tools"] = keep_masked(new, old if isinstance(old, list) else [])
        if sent.get("form") is not None:
            current = stored.part("form_context")
            values = dict(sent["form"])
            if "secret" in values:
                values["secret"] = keep_secret(values["secret"], current.get("secret"))
            form = merge(current, values)
            if form.get("active") is True and not form.get("secret"):
                # a form switched on always has a secret (as the admin API makes sure)
                form["secret"] = secrets.token_urlsafe(32)
            stored.tools["form_context"] = form

    def check(self, stored: Stored) -> list[FieldError]:
        errors = []
        crm = stored.part(next((k for k in _KEYS["crm"] if k in stored.tools), "crm"))
        if crm.get("active", False) is True and not crm.get("webhook_url"):
            errors.append(FieldError("crm.webhook_url", "obrigatório com o CRM ligado"))
        for i, tool in enumerate(stored.tools.get("custom_tools") or []):
            for header, value in (tool.get("headers") or {}).items():
                if value == MASK:
                    errors.append(
                        FieldError(f"custom_tools.{i}.headers.{header}", "cabeçalho novo sem valor")
                    )
        return errors


def _on(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "sim"}
    return bool(value)
