"""What every settings section shares: the stored tenant it edits, the form model, and
field errors in Portuguese that name the field and say what is wrong."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wacommon.infra.crypto import MASK


@dataclass
class Stored:
    """The `clients` values a section reads and writes, secrets opened."""

    system_prompt: str = ""
    timezone: str = "America/Sao_Paulo"
    human_attendant_timeout: int | None = 3600
    tools: dict[str, Any] = field(default_factory=dict)
    followup: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> Stored:
        return copy.deepcopy(self)

    def part(self, key: str) -> dict[str, Any]:
        """`tools_config[key]` as an object (a bare switch such as `true` becomes `active`)."""
        raw = self.tools.get(key)
        if isinstance(raw, Mapping):
            return dict(raw)
        if isinstance(raw, bool):
            return {"active": raw}
        return {}


@dataclass(frozen=True)
class FieldError:
    """One refused field: its dotted path in the body and the reason."""

    field: str
    message: str
    kind: str = "value_error"

    def as_json(self) -> dict[str, Any]:
        loc = ["body", *(int(p) if p.isdigit() else p for p in self.field.split("."))]
        return {
            "loc": loc,
            "field": self.field,
            "msg": f"{self.field}: {self.message}",
            "type": self.kind,
        }


class SettingsInvalid(Exception):
    """The change is refused; nothing was written."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


class SectionForm(BaseModel):
    """A section as an owner edits it: unknown fields are refused, every field optional.

    A PATCH changes only the fields it sends; a field sent as null goes back to its
    default (its key is removed, so the services apply their own default).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    section: ClassVar[str] = ""
    title: ClassVar[str] = ""

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        """The section's values, defaults for what is unset, secrets masked."""
        raise NotImplementedError

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """What each field is when the tenant sets nothing (shown next to the form)."""
        return {}

    def apply(self, stored: Stored) -> None:
        """Write the fields sent into `stored` (the keys the services read)."""
        raise NotImplementedError

    def check(self, stored: Stored) -> list[FieldError]:
        """Rules across fields, on the section as it would be saved."""
        return []

    def sent(self) -> dict[str, Any]:
        """The fields the request carried (null included), as JSON values."""
        return self.model_dump(mode="json", include=self.model_fields_set)


def merge(target: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`target` with `values` written in; a None value removes its key (back to default)."""
    out = dict(target)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def keep_secret(sent: str | None, stored: Any) -> str | None:
    """The mask sent back keeps the stored secret; "" or null clears it."""
    if sent == MASK:
        return stored if isinstance(stored, str) and stored else None
    return sent or None


def masked(value: Any) -> str | None:
    return MASK if isinstance(value, str) and value else None


# pydantic's error types, said in Portuguese (the console's language)
_MESSAGES = {
    "missing": "campo obrigatório",
    "extra_forbidden": "campo desconhecido nesta seção",
    "string_too_long": "texto longo demais (máximo {max_length} caracteres)",
    "string_too_short": "texto curto demais (mínimo {min_length} caracteres)",
    "too_long": "itens demais (máximo {max_length})",
    "less_than_equal": "deve ser no máximo {le}",
    "less_than": "deve ser menor que {lt}",
    "greater_than_equal": "deve ser no mínimo {ge}",
    "greater_than": "deve ser maior que {gt}",
    "float_parsing": "deve ser um número",
    "float_type": "deve ser um número",
    "int_parsing": "deve ser um número inteiro",
    "int_type": "deve ser um número inteiro",
    "int_from_float": "deve ser um número inteiro",
    "bool_parsing": "deve ser verdadeiro ou falso",
    "bool_type": "deve ser verdadeiro ou falso",
    "string_type": "deve ser um texto",
    "list_type": "deve ser uma lista",
    "dict_type": "deve ser um objeto",
    "model_type": "deve ser um objeto",
    "literal_error": "valor não permitido (use {expected})",
    "string_pattern_mismatch": "formato inválido",
    "finite_number": "deve ser um número finito",
}


def _shown(value: Any) -> Any:
    """600.0 as 600 and 0.5 as 0,5: numbers as a Brazilian reader writes them."""
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return value


def field_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for item in exc.errors():
        path = ".".join(str(p) for p in item["loc"] if p != "body") or "body"
        kind = str(item["type"])
        template = _MESSAGES.get(kind)
        if kind == "value_error":
            message = str(item.get("ctx", {}).get("error") or item["msg"])
        elif template is not None:
            try:
                ctx = {k: _shown(v) for k, v in (item.get("ctx") or {}).items()}
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = template
        else:
            message = str(item["msg"])
        out.append(FieldError(path, message, kind))
    return out
