"""Switches in a tenant's `tools_config`, which the seed wrote as booleans, numbers or words."""

from __future__ import annotations

from typing import Any


def truthy(value: Any) -> bool:
    """True for `true` and the words the seed's panel stored for it (`"sim"`, `"1"`, ...)."""
    return value is True or str(value).strip().lower() in {"true", "1", "yes", "sim", "on"}
