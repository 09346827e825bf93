"""The sections inbound traffic is read with: the debounce of a burst, the contact lists
and the public lead form."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator

from wacommon.tenants.sections.base import Section


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
