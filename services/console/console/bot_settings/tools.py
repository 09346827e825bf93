"""The tools section: the keys `waai.tools.catalog.build_toolbox` reads (`lookup_cep`,
`calendar`, `crm`, `reminders`, `custom_tools`) and `form_context` (the lead-form webhook of
the meta-gateway)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from console.bot_settings.base import FieldError, SectionForm, Stored, keep_secret, masked, merge
from console.bot_settings.fields import Strict, check_base_url
from waai.tools.catalog import BUILTIN_NAMES
from waai.tools.custom_http import parse_custom_tool
from wacommon.infra.crypto import MASK, keep_masked, mask


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
