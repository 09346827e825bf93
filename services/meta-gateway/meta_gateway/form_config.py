"""A tenant's lead-form settings (`tools_config["form_context"]`) over the deployment's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wacommon.tenants.sections.inbound import FormSection

DEFAULT_RATE_PER_MINUTE = 30
DEFAULT_COOLDOWN_HOURS = 24.0
DEFAULT_GREETING = (
    "Olá {nome}! Recebemos suas informações e já vamos continuar seu atendimento por aqui."
)


@dataclass(frozen=True)
class FormConfig:
    """`tools_config["form_context"]` of a tenant."""

    active: bool
    send_greeting: bool
    greeting: str
    template: dict[str, Any] | None
    secret: str | None
    rate_per_minute: int
    cooldown_hours: float

    @classmethod
    def of(cls, section: FormSection, default_rate: int) -> FormConfig:
        """The tenant's typed `forms` section over the deployment's rate limit."""
        return cls(
            active=section.active,
            send_greeting=section.send_greeting,
            greeting=section.greeting or DEFAULT_GREETING,
            template=section.template,
            secret=section.secret.get_secret_value() if section.secret is not None else None,
            rate_per_minute=section.rate_limit_per_minute or default_rate,
            cooldown_hours=(
                section.greeting_cooldown_hours
                if section.greeting_cooldown_hours is not None
                else DEFAULT_COOLDOWN_HOURS
            ),
        )
