"""Value types and checks the section forms share: short words, "HH:MM" times, day keys, a
strict sub-form, de-duplicated lists and the URL check of every address a tenant gives."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from wacommon.infra.netguard import is_public

Word = Annotated[str, Field(min_length=1, max_length=80)]
HHMM = Annotated[str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
Day = Literal["seg", "ter", "qua", "qui", "sex", "sab", "dom"]


class Strict(BaseModel):
    """A sub-form that refuses unknown keys and strips its strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def unique_words(values: list[str] | None) -> list[str] | None:
    """The values in order, blanks and repeats dropped (None stays None)."""
    if values is None:
        return None
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def check_base_url(value: str, allowed_hosts: frozenset[str]) -> str:
    """An https URL on a public host (the operator's TOOL_ALLOWED_HOSTS are exempt); the
    guarded client checks resolved names again when a connection opens."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("não é uma URL válida") from None
    host = url.host.lower()
    if not host:
        raise ValueError("a URL precisa de um endereço (https://...)")
    if host in allowed_hosts:
        return value
    if url.scheme != "https" or url.userinfo:
        raise ValueError("use uma URL https sem usuário e senha")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return value
    if not is_public(str(literal)):
        raise ValueError("aponta para um endereço privado ou reservado")
    return value
