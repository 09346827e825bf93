"""The base of every section model and `parse_section`, which reads one with defaults for
what it cannot read (logged and counted), plus the coercions several sections share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = structlog.get_logger(__name__)

INVALID = Counter(
    "wa_tenant_config_invalid_total",
    "Tenant configuration values unreadable, replaced by their defaults",
    ["section"],
)
# the whole section was not an object: every field took its default
WHOLE = "*"


class Section(BaseModel):
    """A configuration section; `invalid` names the keys that fell back to defaults."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    invalid: tuple[str, ...] = Field(default=(), exclude=True)


S = TypeVar("S", bound=Section)


def parse_section(model: type[S], raw: Any, section: str, tenant_id: str = "") -> S:
    """`raw` read as `model`; an unreadable value (or a non-object) takes its default."""
    if raw is None:
        return model()
    if not isinstance(raw, Mapping):
        _warn(section, tenant_id, (WHOLE,))
        return model(invalid=(WHOLE,))
    data = {k: v for k, v in raw.items() if k != "invalid"}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        bad = tuple(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
    _warn(section, tenant_id, bad)
    kept = {k: v for k, v in data.items() if k not in bad and _alias_of(model, k) not in bad}
    try:
        return model.model_validate({**kept, "invalid": bad})
    except ValidationError:
        return model(invalid=(WHOLE,))


def _alias_of(model: type[Section], key: str) -> str:
    for name, info in model.model_fields.items():
        if info.alias == key:
            return name
    return key


def _warn(section: str, tenant_id: str, keys: tuple[str, ...]) -> None:
    INVALID.labels(section).inc()
    log.warning("tenant_config_invalid", section=section, tenant_id=tenant_id, keys=list(keys))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def number_or_none(value: Any) -> float | None:
    """`None`/"" mean unset; anything `float()` reads is a number; the rest is invalid."""
    if _blank(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def stripped_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
