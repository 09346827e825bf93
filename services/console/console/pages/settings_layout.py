"""How each settings section is laid out as a form: its fields, in order, with the kind
of input each needs. Labels and help come from the catalog (`settings.<section>.<field>`
and `…_help`); values and defaults from `/api/settings/<section>`'s own functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Brazil's zones first (the datalist suggests them; any IANA zone is accepted)
ZONES = (
    "America/Sao_Paulo",
    "America/Manaus",
    "America/Bahia",
    "America/Fortaleza",
    "America/Recife",
    "America/Belem",
    "America/Cuiaba",
    "America/Campo_Grande",
    "America/Porto_Velho",
    "America/Boa_Vista",
    "America/Rio_Branco",
    "America/Noronha",
    "Europe/Lisbon",
)


# one follow-up stage's inputs (kind "stages": a fieldset per stage, a few blank ones to add)
STAGE_FIELDS = ("delay_minutes", "type", "message", "instruction", "media_url", "template")
STAGE_TYPES = ("text", "audio", "image", "video", "document")
MAX_STAGES = 10


@dataclass(frozen=True)
class Field:
    """One input: `name` is the dotted path in the section's JSON."""

    name: str
    kind: str = (
        "text"  # text textarea number select check lines json secret time schedule days stages
    )
    options: tuple[str, ...] = ()
    step: str = "any"
    wide: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A titled group of fields (the tools section has one per tool)."""

    key: str
    fields: tuple[Field, ...]


LAYOUT: dict[str, tuple[Group, ...]] = {
    "persona": (
        Group(
            "main",
            (
                Field("system_prompt", "textarea", extra={"rows": 8}),
                Field(
                    "business_type",
                    "select",
                    ("generic", "isp", "varejo", "servicos", "food", "saude"),
                ),
                Field("tone"),
                Field("greeting", "textarea"),
            ),
        ),
    ),
    "model": (
        Group(
            "main",
            (
                Field(
                    "provider",
                    "select",
                    ("", "openai", "gemini", "openai_compatible", "openrouter"),
                ),
                Field("model"),
                Field("base_url", extra={"inputmode": "url"}),
                Field("api_key", "secret"),
                Field("temperature", "number", step="0.1"),
                Field("max_tokens", "number", step="1"),
                Field("history_messages", "number", step="1"),
                Field("history_hours", "number"),
            ),
        ),
    ),
    "hours": (
        Group(
            "main",
            (
                Field("active", "check"),
                Field("timezone", extra={"list": "zones"}),
                Field("mode", "select", ("dentro", "fora", "sempre")),
                Field("schedule", "schedule"),
                Field("holidays", "lines"),
                Field("off_message", "textarea"),
                Field("on_message", "textarea"),
            ),
        ),
    ),
    "debounce": (
        Group(
            "main",
            (
                Field("quiet_seconds", "number", step="0.5"),
                Field("max_wait_seconds", "number", step="1"),
                Field("max_burst", "number", step="1"),
                Field("flush_keywords", "lines"),
            ),
        ),
    ),
    "handover": (
        Group(
            "main",
            (
                Field("instructions", "textarea"),
                Field("timeout_minutes", "number", step="1"),
                Field("resume", "select", ("after_timeout", "never")),
                Field("customer_can_resume", "check"),
                Field("pause_commands", "lines"),
                Field("stop_words", "lines"),
            ),
        ),
    ),
    "followups": (
        Group(
            "main",
            (
                Field("active", "check"),
                Field("stages", "stages"),
                Field("max_stages", "number", step="1"),
                Field("conversion_window_hours", "number"),
                Field("reminder_template", "json", extra={"rows": 3}),
            ),
        ),
        Group(
            "allowed_hours",
            (
                Field("allowed_hours.enabled", "check"),
                Field("allowed_hours.start", "time"),
                Field("allowed_hours.end", "time"),
                Field("allowed_hours.days", "days"),
            ),
        ),
    ),
    "budget": (
        Group(
            "main",
            (
                Field("soft_brl", "number", step="0.01"),
                Field("hard_brl", "number", step="0.01"),
                Field("cheaper_model"),
                Field("on_hard", "select", options=("handover", "offline")),
            ),
        ),
    ),
    "optout": (
        Group(
            "main",
            (
                Field("phrases", "lines", extra={"rows": 8}),
                Field("commands", "lines"),
                Field("reply", "textarea"),
            ),
        ),
    ),
    "contacts": (
        Group(
            "main",
            (
                Field("active", "check"),
                Field("allowed_numbers", "lines"),
                Field("blocked_numbers", "lines"),
            ),
        ),
    ),
    "tools": (
        Group("cep", (Field("cep.active", "check"), Field("cep.instructions", "textarea"))),
        Group(
            "calendar",
            (
                Field("calendar.active", "check"),
                Field("calendar.instructions", "textarea"),
                Field("calendar.slot_minutes", "number", step="5"),
                Field("calendar.days_ahead", "number", step="1"),
            ),
        ),
        Group(
            "crm",
            (
                Field("crm.active", "check"),
                Field("crm.webhook_url", extra={"inputmode": "url"}),
                Field("crm.webhook_headers", "json", extra={"rows": 3}),
                Field("crm.instructions", "textarea"),
            ),
        ),
        Group(
            "reminders",
            (Field("reminders.active", "check"), Field("reminders.instructions", "textarea")),
        ),
        Group("custom", (Field("custom_tools", "json", extra={"rows": 10}),)),
        Group(
            "form",
            (
                Field("form.active", "check"),
                Field("form.send_greeting", "check"),
                Field("form.greeting", "textarea"),
                Field("form.secret", "secret"),
            ),
        ),
    ),
}


def at(values: Any, path: str) -> Any:
    """The value at a dotted path of the section's JSON (None when absent)."""
    for part in path.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(part)
    return values


def label_keys() -> list[str]:
    """Every catalog key the settings pages use (a unit test checks both locales have them)."""
    keys = []
    for section, groups in LAYOUT.items():
        keys += [f"settings.section.{section}", f"settings.intro.{section}"]
        for group in groups:
            if group.key != "main":
                keys.append(f"settings.group.{section}.{group.key}")
            for f in group.fields:
                keys.append(f"settings.{section}.{f.name}")
                keys += [f"settings.option.{section}.{f.name}.{o or 'default'}" for o in f.options]
            if f.kind == "stages":
                keys += [f"settings.{section}.stage.{name}" for name in STAGE_FIELDS]
                keys += [f"settings.option.{section}.stage.type.{k}" for k in STAGE_TYPES]
    return keys
