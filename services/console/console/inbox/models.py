"""Request bodies of the inbox API (422 names the field when one is wrong)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wacommon.conversation.human_send import MAX_TEXT_CHARS


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    parameters: list[str] | dict[str, str] = Field(default_factory=list)


class ReplyIn(BaseModel):
    """A text or an approved template."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    template: TemplateIn | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("o texto não pode ser vazio")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ReplyIn:
        if (self.text is None) == (self.template is None):
            raise ValueError("envie `text` ou `template` (um dos dois)")
        return self


class TakeoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: until released or closed
    minutes: float | None = Field(default=None, gt=0, le=60 * 24 * 30)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Literal["resolved", "not_resolved"]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None unassigns
    user_id: UUID | None
