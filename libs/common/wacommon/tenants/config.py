"""A tenant's whole configuration: the `clients` row and its `tools_config`, typed by section."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wacommon.tenants.sections.ai import LLMSection, PersonaSection
from wacommon.tenants.sections.base import parse_section
from wacommon.tenants.sections.conversation import (
    CommandsSection,
    HandoverSection,
    HoursSection,
    StopTriggersSection,
)
from wacommon.tenants.sections.followups import FollowupsSection
from wacommon.tenants.sections.inbound import ContactFilterSection, DebounceSection, FormSection

# the `clients` columns a TenantConfig is read from
COLUMNS = (
    "id, name, system_prompt, bot_active, timezone, tools_config, followup_config,"
    " human_attendant_timeout, token, api_url, whatsapp_provider, created_at, updated_at"
)


class TenantConfig(BaseModel):
    """What every service reads about a tenant, decrypted and parsed once per change.

    `tools_config` and `followup_config` keep the stored JSON (secrets opened), unknown keys
    included, for the code that still reads keys of its own (tool switches, legacy
    credentials); the typed sections are what the services and the console read.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    name: str = ""
    system_prompt: str = ""
    bot_active: bool = True
    timezone: str = "America/Sao_Paulo"
    # seconds a human handover lasts when the tenant's `atendimento_humano` sets no minutes
    human_attendant_timeout: int | None = 3600
    whatsapp_provider: str | None = None
    # secrets opened: never shown or dumped (the sections mask theirs as SecretStr)
    tools_config: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)
    followup_config: dict[str, Any] = Field(default_factory=dict)

    llm: LLMSection = Field(default_factory=LLMSection)
    persona: PersonaSection = Field(default_factory=PersonaSection)
    # None: the tenant set no `debounce` (Meta then gets its shorter default)
    debounce: DebounceSection | None = None
    hours: HoursSection = Field(default_factory=HoursSection)
    commands: CommandsSection = Field(default_factory=CommandsSection)
    handover: HandoverSection = Field(default_factory=HandoverSection)
    stop_triggers: StopTriggersSection = Field(default_factory=StopTriggersSection)
    contact_filter: ContactFilterSection | None = None
    groups_enabled: bool = False
    forms: FormSection = Field(default_factory=FormSection)
    followups: FollowupsSection = Field(default_factory=FollowupsSection)
    # the sender marks an answered message read unless this is exactly `false`
    mark_read: bool = True


# where each section is stored: the `tools_config` key an owner's edit of it writes
# (`followups` is the `followup_config` column; `contact_filter` also reads `groups_enabled`)
STORED_AS: dict[str, str] = {
    "llm": "llm_config",
    "persona": "persona",
    "debounce": "debounce",
    "hours": "business_hours",
    "commands": "commands",
    "handover": "atendimento_humano",
    "stop_triggers": "desativar_ia",
    "contact_filter": "security_lists",
    "forms": "form_context",
    "mark_read": "mark_read",
}


def parse_tenant(
    row: Mapping[str, Any], open_secrets: Callable[[Any], Any] | None = None
) -> TenantConfig:
    """Parse a `clients` row; `open_secrets` decrypts the secret values of `tools_config`."""
    data = dict(row)
    tenant_id = str(data["id"])
    raw_tools = data.get("tools_config")
    raw_tools = raw_tools if isinstance(raw_tools, dict) else {}
    tools: dict[str, Any] = dict(open_secrets(raw_tools) if open_secrets else raw_tools)
    followup = data.get("followup_config")
    lists = tools.get("security_lists")
    return TenantConfig(
        id=tenant_id,
        name=data.get("name") or "",
        system_prompt=data.get("system_prompt") or "",
        bot_active=bool(data.get("bot_active", True)),
        timezone=data.get("timezone") or "America/Sao_Paulo",
        human_attendant_timeout=data.get("human_attendant_timeout"),
        whatsapp_provider=data.get("whatsapp_provider"),
        tools_config=tools,
        followup_config=followup if isinstance(followup, dict) else {},
        llm=parse_section(LLMSection, tools.get("llm_config") or None, "llm", tenant_id),
        persona=parse_section(PersonaSection, tools.get("persona"), "persona", tenant_id),
        debounce=(
            parse_section(DebounceSection, tools["debounce"], "debounce", tenant_id)
            if "debounce" in tools
            else None
        ),
        hours=parse_section(HoursSection, tools.get("business_hours"), "hours", tenant_id),
        commands=parse_section(CommandsSection, tools.get("commands"), "commands", tenant_id),
        handover=parse_section(
            HandoverSection, tools.get("atendimento_humano"), "handover", tenant_id
        ),
        stop_triggers=parse_section(
            StopTriggersSection, tools.get("desativar_ia"), "stop_triggers", tenant_id
        ),
        contact_filter=(
            parse_section(ContactFilterSection, lists, "contact_filter", tenant_id)
            if isinstance(lists, dict)
            else None
        ),
        groups_enabled=bool(tools.get("groups_enabled")),
        forms=_forms(tools.get("form_context"), tenant_id),
        mark_read=tools.get("mark_read", True) is not False,
        followups=parse_section(FollowupsSection, followup or None, "followups", tenant_id),
    )


def _forms(raw: Any, tenant_id: str) -> FormSection:
    # the seed also wrote `"form_context": true`
    data = raw if isinstance(raw, dict) else {"active": raw is True}
    return parse_section(FormSection, data, "forms", tenant_id)
