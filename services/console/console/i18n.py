"""The console's strings: one catalog per locale, Brazilian Portuguese first, English second.

Keys are dotted names (`inbox.title`); values may hold `{name}` placeholders filled by `t()`.
Keys starting with `js.` are also handed to the browser script (see `js_strings`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Final

DEFAULT_LOCALE: Final = "pt-BR"
LOCALES: Final = ("pt-BR", "en")
_FILES: Final = {"pt-BR": "pt_BR.json", "en": "en.json"}


@cache
def catalog(locale: str) -> Mapping[str, str]:
    """The strings of one locale, read once from the package."""
    text = (resources.files("console") / "locales" / _FILES[locale]).read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"locale {locale}: the catalog must map keys to strings")
    return data


def normalize(value: str | None) -> str | None:
    """`pt_br`, `pt-BR`, `pt` -> `pt-BR`; `en-US`, `en` -> `en`; anything else -> None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag.startswith("pt"):
        return "pt-BR"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(user_locale: str | None, accept_language: str | None) -> str:
    """The user's own setting wins; then the browser's preference order; then Portuguese."""
    chosen = normalize(user_locale)
    if chosen:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        found = normalize(tag)
        if found and weight > 0:
            ranked.append((-weight, i, found))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


class Translator:
    """`t(key, **values)` for one locale; a missing key falls back to Portuguese, then the key."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self._strings = catalog(self.locale)
        self._fallback = catalog(DEFAULT_LOCALE)

    @property
    def html_lang(self) -> str:
        return self.locale

    def __call__(self, key: str, **values: object) -> str:
        text = self._strings.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def js_strings(self) -> dict[str, str]:
        """The `js.*` strings, without the prefix, for the page script."""
        return {k[3:]: v for k, v in self._strings.items() if k.startswith("js.")}
