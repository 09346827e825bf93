"""Request and response bodies of the Meta account admin routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meta_gateway.admin.models import ProviderOut

GRAPH_ID = r"^\d{1,32}$"
PIN_KEY = "two_step_pin"
# coexistence numbers stay registered on the WhatsApp Business app: no /register call
COEXISTENCE_EVENT = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
Vertical = Literal[
    "UNDEFINED",
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "NOT_A_BIZ",
]


class EmbeddedSignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=4096, description="FB.login authResponse.code")
    waba_id: str = Field(pattern=GRAPH_ID, description="WA_EMBEDDED_SIGNUP data.waba_id")
    phone_number_id: str = Field(pattern=GRAPH_ID, description="data.phone_number_id")
    pin: str | None = Field(default=None, pattern=r"^\d{6}$", description="two-step PIN to set")
    event: str | None = Field(default=None, max_length=64, description="WA_EMBEDDED_SIGNUP event")


class SignupOut(ProviderOut):
    registered: bool = Field(description="the number was registered for Cloud API")
    pin: str | None = Field(default=None, description="generated two-step PIN, shown only once")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="allow")

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
    model_config = ConfigDict(extra="forbid")

    about: str | None = Field(default=None, min_length=1, max_length=139)
    address: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, min_length=1, max_length=512)
    email: str | None = Field(default=None, min_length=3, max_length=128)
    websites: list[str] | None = Field(default=None, max_length=2)
    vertical: Vertical | None = None
    profile_picture_handle: str | None = Field(default=None, min_length=1, max_length=2048)
