"""Request and response bodies of the admin API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from wacommon.api_types import JsonObject, NulFreeStr

ProviderType = Literal["meta", "lancepilot", "uazapi"]

# provider config keys as the system we replace stored them
REQUIRED_CONFIG: dict[str, tuple[str, ...]] = {
    "meta": ("phone_id", "access_token"),
    "uazapi": ("url", "token"),
    "lancepilot": ("token", "workspace_id", "number"),
}
# config keys whose value is more than "some text": a Graph id becomes a URL path segment,
# a token an HTTP header (printable ASCII, or the send fails before it leaves)
_HEADER_SAFE = r"^[!-~]+$"
CONFIG_PATTERNS = {"phone_id": r"^\d{1,32}$", "access_token": _HEADER_SAFE, "token": _HEADER_SAFE}

TIME_ZONES = sorted(available_timezones())


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _whole_number(value: object) -> object:
    """JSON has one number type: 60.0 is the integer 60 (strict mode alone would refuse it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# a JSON integer that fits the database's `integer` columns
DbInt = Annotated[int, BeforeValidator(_whole_number), Field(le=2**31 - 1)]


# JSON types are not coerced (`0` is not `false`, `"5"` is not `5`): what the OpenAPI
# documents is exactly what is accepted, and a wrong type is a 422 naming the field
STRICT = ConfigDict(extra="forbid", strict=True)


class ClientFields(BaseModel):
    model_config = STRICT

    # NOT NULL columns: absent means "unchanged" (or the default), an explicit null is refused
    system_prompt: Annotated[NulFreeStr, Field(max_length=20000)] | SkipJsonSchema[None] = None
    bot_active: bool | SkipJsonSchema[None] = None
    timezone: (
        Annotated[str, Field(json_schema_extra={"enum": TIME_ZONES})] | SkipJsonSchema[None]
    ) = None
    tools_config: JsonObject | SkipJsonSchema[None] = None
    followup_config: JsonObject | SkipJsonSchema[None] = None
    human_attendant_timeout: Annotated[DbInt, Field(ge=0)] | None = None
    api_key: Annotated[NulFreeStr, Field(min_length=16)] | None = Field(
        default=None, description="tenant dashboard key"
    )
    token: NulFreeStr | None = Field(default=None, description="legacy tenant token")
    api_url: NulFreeStr | None = Field(default=None, description="legacy gateway URL")
    whatsapp_provider: NulFreeStr | None = Field(default=None, description="legacy provider name")

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _no_nulls(self) -> ClientFields:
        refuse_nulls(self, CLIENT_NOT_NULL)
        return self


CLIENT_NOT_NULL = frozenset(
    {"name", "system_prompt", "bot_active", "timezone", "tools_config", "followup_config"}
)


def refuse_nulls(model: BaseModel, names: frozenset[str]) -> None:
    """An explicit null for a NOT NULL column is a 422 naming it, not a database error."""
    nulls = sorted(n for n in model.model_fields_set & names if getattr(model, n) is None)
    if nulls:
        raise ValueError(f"{', '.join(nulls)} cannot be null (leave the field out instead)")


class ClientCreate(ClientFields):
    name: NulFreeStr = Field(min_length=1, max_length=200)


class ClientUpdate(ClientFields):
    name: Annotated[NulFreeStr, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None


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


def _config_patterns_schema() -> dict[str, Any]:
    """CONFIG_PATTERNS as JSON Schema: whatever the provider type, when the key is given."""
    patterns = {k: {"type": "string", "pattern": p} for k, p in CONFIG_PATTERNS.items()}
    return {"properties": {"config": {"properties": patterns}}}


def _check_config_patterns(config: dict[str, Any] | None) -> None:
    bad = sorted(
        k
        for k, pattern in CONFIG_PATTERNS.items()
        if config is not None
        and k in config
        and not (isinstance(config[k], str) and re.search(pattern, config[k]))
    )
    if bad:
        raise ValueError(f"config has an invalid {', '.join(bad)}")


def _required_config_schema() -> dict[str, Any]:
    """The `config` keys each provider_type needs, as JSON Schema (what the validator checks)."""
    return {
        "allOf": [
            _config_patterns_schema(),
            *(
                {
                    "if": {"properties": {"provider_type": {"const": kind}}},
                    "then": {
                        "required": ["config"],
                        "properties": {
                            "config": {
                                "required": list(keys),
                                "properties": {
                                    k: {"type": "string", "pattern": CONFIG_PATTERNS.get(k, r"\S")}
                                    for k in keys
                                },
                            }
                        },
                    },
                }
                for kind, keys in REQUIRED_CONFIG.items()
            ),
        ]
    }


class ProviderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=_required_config_schema()
    )

    provider_type: ProviderType
    instance_name: NulFreeStr = Field(default="Principal", min_length=1, max_length=100)
    config: JsonObject = Field(default_factory=dict)
    is_active: bool = True
    is_default: bool = False

    @model_validator(mode="after")
    def _required_keys(self) -> ProviderCreate:
        _check_config_patterns(self.config)
        missing = [
            k
            for k in REQUIRED_CONFIG[self.provider_type]
            if not (
                isinstance(value := self.config.get(k), str)
                and re.search(CONFIG_PATTERNS.get(k, r"\S"), value)
            )
        ]
        if missing:
            raise ValueError(
                f"config is missing (or has an invalid) {', '.join(missing)} for {self.provider_type}"
            )
        return self


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"allOf": [_config_patterns_schema()]}
    )

    instance_name: (
        Annotated[NulFreeStr, Field(min_length=1, max_length=100)] | SkipJsonSchema[None]
    ) = None
    config: JsonObject | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None
    is_default: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ProviderUpdate:
        refuse_nulls(self, frozenset(type(self).model_fields))
        _check_config_patterns(self.config)
        return self


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
