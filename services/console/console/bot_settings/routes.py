"""`/api/settings/<section>` (GET, PATCH), `/api/settings/history` and the key test.

Owners and operators (on the tenant they act on); agents get 403. A PATCH is validated
whole before anything is written: a refused field answers 422 with every field error
(`loc`, `field`, `msg`) and changes nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from console.auth.deps import require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.bot_settings import keytest, store
from console.bot_settings.base import FieldError, SectionForm, SettingsInvalid, field_errors
from console.bot_settings.registry import SECTIONS
from console.deps import ConsoleDeps, get_deps

UNKNOWN_SECTION = "seção de configuração desconhecida"
TENANT_GONE = "cliente não encontrado"


def form_class(section: str) -> type[SectionForm]:
    cls = SECTIONS.get(section)
    if cls is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN_SECTION)
    return cls


def invalid(errors: list[FieldError], code: int = 422) -> JSONResponse:
    return JSONResponse({"detail": [e.as_json() for e in errors]}, status_code=code)


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object sent; anything else is a 400 naming the body."""
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise SettingsInvalid(
            [FieldError("body", "não é um JSON válido", "json_invalid")]
        ) from None
    if not isinstance(data, dict):
        raise SettingsInvalid([FieldError("body", "deve ser um objeto JSON", "dict_type")])
    return data


def parse_form(cls: type[SectionForm], data: dict[str, Any], deps: ConsoleDeps) -> SectionForm:
    try:
        return cls.model_validate(data, context={"allowed_hosts": deps.settings.link_hosts()})
    except ValidationError as exc:
        raise SettingsInvalid(field_errors(exc)) from None


def section_answer(cls: type[SectionForm], values: dict[str, Any]) -> dict[str, Any]:
    return {"section": cls.section, "values": values, "defaults": cls.defaults()}


async def sections(_: CurrentUser = Depends(require_owner)) -> dict[str, Any]:
    """The sections this API edits."""
    return {"sections": list(SECTIONS)}


async def history(
    section: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=200),
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> dict[str, Any]:
    """The tenant's changes, newest first (secrets masked)."""
    if section is not None:
        form_class(section)
    return {"changes": await store.history(deps.pool, tenant, section=section, limit=limit)}


async def test_key(
    request: Request,
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> JSONResponse:
    """One cheap real call with the model settings (the saved ones, or the form's
    unsaved values over them); the provider's error is reported as it said it."""
    cls = form_class("model")
    try:
        form = parse_form(cls, await read_body(request), deps)
    except SettingsInvalid as exc:
        return invalid(exc.errors)
    stored = await store.load(deps.pool, tenant, deps.secrets)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, TENANT_GONE)
    form.apply(stored)
    errors = form.check(stored)
    if errors:
        return invalid(errors)
    result = await keytest.test_model(stored.part("llm_config"), deps.settings.link_hosts())
    return JSONResponse(result.as_json())


async def read(
    section: str,
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> dict[str, Any]:
    """The section's values (defaults where unset, secrets masked) and its defaults."""
    cls = form_class(section)
    stored = await store.load(deps.pool, tenant, deps.secrets)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, TENANT_GONE)
    return section_answer(cls, cls.view(stored))


async def update(
    section: str,
    request: Request,
    user: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> JSONResponse:
    """Change the fields sent (null: back to the default); all or nothing."""
    cls = form_class(section)
    try:
        body = await read_body(request)
    except SettingsInvalid as exc:
        return invalid(exc.errors, 400)
    try:
        form = parse_form(cls, body, deps)
        saved = await store.save(deps.pool, tenant, deps.secrets, form, user)
    except SettingsInvalid as exc:
        return invalid(exc.errors)
    if saved is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, TENANT_GONE)
    return JSONResponse({**section_answer(cls, saved.view), "changed": saved.changed})


def settings_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(prefix="/api/settings", tags=["settings"])
    router.add_api_route("", sections, methods=["GET"])
    router.add_api_route("/history", history, methods=["GET"])
    router.add_api_route("/model/test", test_key, methods=["POST"])
    router.add_api_route("/{section}", read, methods=["GET"])
    router.add_api_route("/{section}", update, methods=["PATCH"])
    return router
