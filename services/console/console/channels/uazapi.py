"""Connecting a WhatsApp number through Uazapi from the channels page.

An owner creates an instance on the deployment's Uazapi server (with UAZAPI_ADMIN_TOKEN)
or attaches one they have (its server URL and token), then connects it by QR code or by
pairing code. The page polls `status`: while Uazapi says `connecting` it shows the code
Uazapi answers (renewed as it expires); when it says `connected` the number is stored (it
is the route key of inbound webhooks). A connect not finished within
UAZAPI_CONNECT_TIMEOUT_S, or abandoned by Uazapi, is reported as expired and can be asked
again. The webhook (our lancepilot-ingest URL with the instance's secret) is registered
with `POST /webhook` right after the connect call, and again if the stored one differs.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any, Literal
from uuid import UUID

import asyncpg
from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from console.channels.common import (
    checked_base_url,
    guarded_client,
    instance_of,
    phone_digits,
    webhook_url,
)
from console.channels.provider_http import ProviderFailure
from console.channels.uazapi_client import InstanceState, UazapiInstances
from console.deps import ConsoleDeps
from wacommon.infra.errors import RouteTaken
from wacommon.repositories import providers as providers_repo
from wacommon.web.api_types import NUL_FREE
from wacommon.web.http_errors import invalid

CREATE_DISABLED = (
    "este servidor não cria instâncias Uazapi (falta UAZAPI_ADMIN_TOKEN): "
    "use “Já tenho uma instância” com o endereço e o token dela"
)
NAME_TAKEN = "já existe um canal Uazapi com este nome"
NUMBER_TAKEN = "este número já está conectado em outro canal"


class UazapiAdd(BaseModel):
    """Create an instance on our Uazapi server, or attach one the owner already has."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mode: Literal["create", "attach"]
    name: str = Field(min_length=1, max_length=60, pattern=NUL_FREE)
    url: str | None = Field(default=None, max_length=300, pattern=NUL_FREE)
    token: str | None = Field(default=None, max_length=200, pattern=NUL_FREE)


class UazapiConnect(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # with a phone number Uazapi answers a pairing code, without one a QR code
    phone: str | None = Field(default=None, max_length=30, pattern=NUL_FREE)


def _attempt_key(deps: ConsoleDeps, instance_id: str) -> str:
    return f"{deps.settings.redis_prefix}console:uazapi:connect:{instance_id}"


def _client(deps: ConsoleDeps, row_or_url: dict[str, Any] | str, http: Any) -> UazapiInstances:
    url = row_or_url if isinstance(row_or_url, str) else str(row_or_url["config"].get("url") or "")
    return UazapiInstances(http, url, timeout_s=deps.settings.channels_http_timeout_s)


def _failure(exc: ProviderFailure) -> HTTPException:
    return HTTPException(exc.status, exc.detail)


async def add_instance(deps: ConsoleDeps, tenant: UUID, body: UazapiAdd) -> dict[str, Any]:
    """Create or attach; nothing is stored unless Uazapi accepted the instance."""
    settings = deps.settings
    async with guarded_client(deps) as http:
        if body.mode == "create":
            if settings.uazapi_admin_token is None:
                raise HTTPException(409, CREATE_DISABLED)
            url = settings.uazapi_url.rstrip("/")
            try:
                token = await _client(deps, url, http).create(
                    settings.uazapi_admin_token.get_secret_value(), body.name
                )
            except ProviderFailure as exc:
                raise _failure(exc) from None
        else:
            if not body.url:
                raise invalid(("body", "url"), "informe o endereço do seu servidor Uazapi")
            if not body.token or any(ch.isspace() for ch in body.token):
                raise invalid(("body", "token"), "informe o token da instância (sem espaços)")
            url = await checked_base_url(deps, body.url, "url")
            token = body.token
            try:
                await _client(deps, url, http).status(token)
            except ProviderFailure as exc:
                if exc.token_refused:
                    raise invalid(("body", "token"), exc.detail) from None
                raise _failure(exc) from None
    has_default = await deps.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM client_providers WHERE client_id = $1"
        " AND provider_type = 'uazapi' AND is_default)",
        tenant,
    )
    try:
        return await providers_repo.create_provider(
            deps.pool,
            deps.secrets,
            str(tenant),
            {
                "provider_type": "uazapi",
                "instance_name": body.name,
                "config": {"url": url, "token": token},
                "is_default": not has_default,
            },
        )
    except asyncpg.UniqueViolationError:
        raise invalid(("body", "name"), NAME_TAKEN) from None


async def _register_webhook(
    deps: ConsoleDeps, tenant: UUID, row: dict[str, Any], api: UazapiInstances
) -> str | None:
    """Point the instance's webhook at our ingest; None when done, else the reason."""
    url = webhook_url(deps, row)
    if url is None:
        return None
    try:
        await api.set_webhook(str(row["config"]["token"]), url)
    except ProviderFailure as exc:
        return exc.detail
    await providers_repo.update_provider(
        deps.pool, deps.secrets, str(tenant), str(row["id"]), {"config": {"webhook_url": url}}
    )
    return None


def _view(
    row: dict[str, Any],
    state: InstanceState,
    *,
    timed_out: bool = False,
    webhook_error: str | None = None,
    number: str | None = None,
) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "instance_name": row["instance_name"],
        **asdict(state),
        "number": state.number or number or row.get("phone_number"),
        "connected": state.connected,
        "timed_out": timed_out,
        "webhook_registered": bool(row["config"].get("webhook_url")) and webhook_error is None,
        "webhook_error": webhook_error,
    }


async def connect(
    deps: ConsoleDeps, tenant: UUID, instance_id: str, body: UazapiConnect
) -> dict[str, Any]:
    """Ask Uazapi for a QR code (or a pairing code) and register our webhook."""
    phone = phone_digits(body.phone, "phone")
    row = await instance_of(deps, tenant, instance_id, "uazapi")
    async with guarded_client(deps) as http:
        api = _client(deps, row, http)
        try:
            state = await api.connect(str(row["config"].get("token") or ""), phone)
        except ProviderFailure as exc:
            raise _failure(exc) from None
        attempt = {"started_at": time.time(), "mode": "paircode" if phone else "qrcode"}
        await deps.redis.set(
            _attempt_key(deps, instance_id),
            json.dumps(attempt),
            ex=int(deps.settings.uazapi_connect_timeout_s) + 3600,
        )
        webhook_error = await _register_webhook(deps, tenant, row, api)
    row = await instance_of(deps, tenant, instance_id, "uazapi")
    return _view(row, state, webhook_error=webhook_error)


async def status(deps: ConsoleDeps, tenant: UUID, instance_id: str) -> dict[str, Any]:
    """Uazapi's live status; stores the number once connected; says when a code expired."""
    row = await instance_of(deps, tenant, instance_id, "uazapi")
    key = _attempt_key(deps, instance_id)
    webhook_error = None
    async with guarded_client(deps) as http:
        api = _client(deps, row, http)
        try:
            state = await api.status(str(row["config"].get("token") or ""))
        except ProviderFailure as exc:
            raise _failure(exc) from None
        if state.connected:
            await deps.redis.delete(key)
            if state.number and state.number != row["phone_number"]:
                try:
                    row = (
                        await providers_repo.update_provider(
                            deps.pool,
                            deps.secrets,
                            str(tenant),
                            instance_id,
                            {"config": {"number": state.number}},
                        )
                        or row
                    )
                except RouteTaken:
                    raise HTTPException(409, NUMBER_TAKEN) from None
            if row["config"].get("webhook_url") != webhook_url(deps, row):
                webhook_error = await _register_webhook(deps, tenant, row, api)
                row = await instance_of(deps, tenant, instance_id, "uazapi")
            return _view(row, state, webhook_error=webhook_error)
    raw = await deps.redis.get(key)
    if raw is None:
        if state.status == "connecting":
            # a connect asked elsewhere (Uazapi's panel, another tab): its clock starts now
            await deps.redis.set(
                key,
                json.dumps({"started_at": time.time(), "mode": "qrcode"}),
                ex=int(deps.settings.uazapi_connect_timeout_s) + 3600,
            )
        return _view(row, state)
    started = float(json.loads(raw).get("started_at") or 0)
    expired = time.time() - started > deps.settings.uazapi_connect_timeout_s
    # Uazapi drops an unanswered code on its own (2 min QR, 5 min pairing): also expired
    if expired or state.status == "disconnected":
        await deps.redis.delete(key)
        return _view(row, InstanceState("disconnected"), timed_out=True)
    return _view(row, state)


async def disconnect(deps: ConsoleDeps, tenant: UUID, instance_id: str) -> dict[str, Any]:
    row = await instance_of(deps, tenant, instance_id, "uazapi")
    async with guarded_client(deps) as http:
        try:
            state = await _client(deps, row, http).disconnect(str(row["config"].get("token") or ""))
        except ProviderFailure as exc:
            raise _failure(exc) from None
    await deps.redis.delete(_attempt_key(deps, instance_id))
    return _view(row, state)
