"""`/configuracoes`: the bot's settings, one tab per section, and the change history.

Owners and operators (on the tenant they act on); agents get the 403 page. The forms
PATCH `/api/settings/<section>` from the page script (the JSON API validates and saves);
what is shown here is that API's own view of the section, so the page and the services
read the same values.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.bot_settings import store
from console.bot_settings.registry import SECTIONS
from console.deps import ConsoleDeps, get_deps
from console.i18n import Translator, catalog
from console.pages.common import (
    Viewer,
    error_page,
    owner_page,
    redirect,
)
from console.pages.render import render, translator_for
from console.pages.settings_layout import (
    LAYOUT,
    MAX_STAGES,
    STAGE_TYPES,
    ZONES,
    Field,
    at,
)
from wacommon.conversation.business_hours import DAY_KEYS

HISTORY = "historico"


def _text(value: Any, kind: str) -> Any:
    if kind == "lines":
        return "\n".join(str(v) for v in value or [])
    if kind == "json":
        return "" if value in (None, [], {}) else json.dumps(value, ensure_ascii=False, indent=2)
    if kind in ("check", "schedule", "days"):
        return value
    if kind == "stages":
        stages = list(value or [])
        # the stored stages, then blank ones to add (a blank stage is not sent)
        return stages + [None] * max(0, min(MAX_STAGES, len(stages) + 2) - len(stages))
    return "" if value is None else value


def _placeholder(value: Any, kind: str) -> str:
    if value is None or kind in ("check", "schedule", "days", "select", "secret", "stages"):
        return ""
    if kind == "lines":
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _help(t: Translator, key: str) -> str | None:
    """Help text when the catalog has one (not every field needs it)."""
    return t(key) if key in catalog("pt-BR") else None


def _field_view(
    t: Translator, section: str, f: Field, values: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    key = f"settings.{section}.{f.name}"
    default = at(defaults, f.name)
    if isinstance(default, dict) and f.name == "model":
        # the model's default depends on the provider: name them all
        default = " · ".join(f"{k}: {v}" for k, v in default.items() if v)
    return {
        "name": f.name,
        "id": "f-" + f.name.replace(".", "-"),
        "kind": f.kind,
        "label": t(key),
        "help": _help(t, key + "_help"),
        "value": _text(at(values, f.name), f.kind),
        "placeholder": _placeholder(default, f.kind),
        "options": [
            (o, t(f"settings.option.{section}.{f.name}.{o or 'default'}")) for o in f.options
        ],
        "step": f.step,
        "extra": f.extra,
    }


async def _tenant_for_page(
    request: Request, deps: ConsoleDeps, user: CurrentUser | None
) -> tuple[Viewer | None, Any, Response | None]:
    found = await owner_page(request, deps, user)
    if isinstance(found, Response):
        return None, None, found
    who, tenant = found
    return who, tenant, None


def _tabs(t: Translator) -> list[tuple[str, str]]:
    tabs = [(name, t(f"settings.section.{name}")) for name in SECTIONS]
    return [*tabs, (HISTORY, t("settings.history.title"))]


async def settings_home() -> Response:
    return redirect("/configuracoes/persona")


async def settings_history(
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    who, tenant, early = await _tenant_for_page(request, deps, user)
    if early is not None:
        return early
    assert who is not None
    t = translator_for(request, who.user)
    changes = await store.history(deps.pool, tenant, limit=100)
    for change in changes:
        section = change["section"]
        change["title"] = t(f"settings.section.{section}")
        change["rows"] = [
            row
            for name in change["changed_fields"]
            for row in _diff_rows(
                _label(t, section, name),
                change["before"].get(name),
                change["after"].get(name),
            )
        ]
    return render(
        request,
        "settings_history.html",
        who.user,
        {"nav": "settings", "tabs": _tabs(t), "current": HISTORY, "changes": changes},
        sound_on=who.sound_on,
    )


async def settings_section(
    section: str,
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    who, tenant, early = await _tenant_for_page(request, deps, user)
    if early is not None:
        return early
    assert who is not None
    cls = SECTIONS.get(section)
    if cls is None:
        return error_page(request, who, 404)
    stored = await store.load(deps.pool, tenant, deps.secrets)
    if stored is None:
        return error_page(request, who, 404)
    t = translator_for(request, who.user)
    values, defaults = cls.view(stored), cls.defaults()
    groups = [
        {
            "title": None if g.key == "main" else t(f"settings.group.{section}.{g.key}"),
            "fields": [_field_view(t, section, f, values, defaults) for f in g.fields],
        }
        for g in LAYOUT[section]
    ]
    return render(
        request,
        "settings.html",
        who.user,
        {
            "nav": "settings",
            "tabs": _tabs(t),
            "current": section,
            "title": t(f"settings.section.{section}"),
            "intro": t(f"settings.intro.{section}"),
            "groups": groups,
            "api_url": f"/api/settings/{section}",
            "zones": ZONES,
            "days": [(d, t(f"settings.day.{d}")) for d in DAY_KEYS],
            "stage_types": [
                (k, t(f"settings.option.followups.stage.type.{k}")) for k in STAGE_TYPES
            ],
        },
        sound_on=who.sound_on,
    )


def settings_pages_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    router.add_api_route("/configuracoes", settings_home, methods=["GET"])
    router.add_api_route(f"/configuracoes/{HISTORY}", settings_history, methods=["GET"])
    router.add_api_route("/configuracoes/{section}", settings_section, methods=["GET"])
    return router


def _label(t: Translator, section: str, name: str) -> str:
    key = f"settings.{section}.{name}"
    return t(key) if key in catalog("pt-BR") else name


def _diff_rows(label: str, before: Any, after: Any) -> list[dict[str, str]]:
    """One row per changed value; an object (the week, a tool) shows only what changed in it."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            row
            for key in sorted({*before, *after})
            if before.get(key) != after.get(key)
            for row in _diff_rows(f"{label} · {key}", before.get(key), after.get(key))
        ]
    return [{"label": label, "before": _shown(before), "after": _shown(after)}]


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
