"""Request and response bodies of the Meta account admin routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from meta_gateway.admin.models import ProviderOut, refuse_nulls
from wacommon.providers.meta.admin import Vertical
from wacommon.web.api_types import NUL_FREE

GRAPH_ID = r"^\d{1,32}$"


class EmbeddedSignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(min_length=1, max_length=4096, description="FB.login authResponse.code")
    waba_id: str = Field(pattern=GRAPH_ID, description="WA_EMBEDDED_SIGNUP data.waba_id")
    phone_number_id: str = Field(pattern=GRAPH_ID, description="data.phone_number_id")
    pin: str | None = Field(default=None, pattern=r"^\d{6}$", description="two-step PIN to set")
    event: str | None = Field(
        default=None, max_length=64, pattern=NUL_FREE, description="WA_EMBEDDED_SIGNUP event"
    )


class SignupOut(ProviderOut):
    registered: bool = Field(description="the number was registered for Cloud API")
    pin: str | None = Field(default=None, description="generated two-step PIN, shown only once")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    language: str = Field(min_length=2, max_length=16)
    components: list[dict[str, Any]] = Field(min_length=1)
    parameter_format: Literal["POSITIONAL", "NAMED"] | None = None


class TemplateCreated(BaseModel):
    id: str
    status: str | None = None
    category: str | None = None


class BusinessProfile(BaseModel):
    about: str | None = None
    address: str | None = None
    description: str | None = None
    email: str | None = None
    profile_picture_url: str | None = None
    websites: list[str] | None = None
    vertical: str | None = None


class BusinessProfilePatch(BaseModel):
    # at least one field; a null is refused (Graph cannot clear a field with it)
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    about: Annotated[str, Field(min_length=1, max_length=139)] | SkipJsonSchema[None] = None
    address: Annotated[str, Field(min_length=1, max_length=256)] | SkipJsonSchema[None] = None
    description: Annotated[str, Field(min_length=1, max_length=512)] | SkipJsonSchema[None] = None
    email: Annotated[str, Field(min_length=3, max_length=128)] | SkipJsonSchema[None] = None
    websites: Annotated[list[str], Field(max_length=2)] | SkipJsonSchema[None] = None
    vertical: Vertical | SkipJsonSchema[None] = None
    profile_picture_handle: (
        Annotated[str, Field(min_length=1, max_length=2048)] | SkipJsonSchema[None]
    ) = None

    @model_validator(mode="after")
    def _some_field(self) -> BusinessProfilePatch:
        refuse_nulls(self, frozenset(type(self).model_fields))
        if not self.model_fields_set:
            raise ValueError("no field to change")
        return self
