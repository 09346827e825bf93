"""Request and response bodies of the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ProviderType = Literal["meta", "lancepilot", "uazapi"]

# provider config keys as the system we replace stored them
REQUIRED_CONFIG: dict[str, tuple[str, ...]] = {
    "meta": ("phone_id", "access_token"),
    "uazapi": ("url", "token"),
    "lancepilot": ("token", "workspace_id", "number"),
}


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class ClientFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = Field(default=None, max_length=20000)
    bot_active: bool | None = None
    timezone: str | None = None
    tools_config: dict[str, Any] | None = None
    followup_config: dict[str, Any] | None = None
    human_attendant_timeout: int | None = Field(default=None, ge=0)
    api_key: str | None = Field(default=None, min_length=16, description="tenant dashboard key")
    token: str | None = Field(default=None, description="legacy tenant token")
    api_url: str | None = Field(default=None, description="legacy gateway URL")
    whatsapp_provider: str | None = Field(default=None, description="legacy provider name")

    _tz = field_validator("timezone")(_check_timezone)


class ClientCreate(ClientFields):
    name: str = Field(min_length=1, max_length=200)


class ClientUpdate(ClientFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ClientOut(BaseModel):
    id: str
    name: str
    system_prompt: str
    bot_active: bool
    timezone: str
    tools_config: dict[str, Any]
    followup_config: dict[str, Any]
    human_attendant_timeout: int | None
    whatsapp_provider: str | None
    created_at: datetime
    updated_at: datetime


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_type: ProviderType
    instance_name: str = Field(default="Principal", min_length=1, max_length=100)
    config: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True
    is_default: bool = False

    @model_validator(mode="after")
    def _required_keys(self) -> ProviderCreate:
        missing = [k for k in REQUIRED_CONFIG[self.provider_type] if not self.config.get(k)]
        if missing:
            raise ValueError(f"config is missing {', '.join(missing)} for {self.provider_type}")
        return self


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_name: str | None = Field(default=None, min_length=1, max_length=100)
    config: dict[str, Any] | None = None
    is_active: bool | None = None
    is_default: bool | None = None


class ProviderOut(BaseModel):
    id: str
    client_id: str
    provider_type: str
    instance_name: str
    config: dict[str, Any] = Field(description="secret values masked")
    is_active: bool
    is_default: bool
    healthy: bool
    last_error: str | None
    webhook_url: str | None = Field(default=None, description="where the provider must post")
    created_at: datetime
    updated_at: datetime


class Created(BaseModel):
    id: str
