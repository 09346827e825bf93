"""How the console reaches Meta's Graph API for an owner: one guarded HTTP client, the
signup mode (the real Facebook SDK or the offline imitation), the tenant's numbers, and
Graph's errors turned into answers the owner can read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import structlog
from fastapi import HTTPException, Request, status

from console.deps import ConsoleDeps
from console.settings import ConsoleSettings
from wacommon.console.meta_signup import PIN_KEY
from wacommon.infra.crypto import mask
from wacommon.infra.netguard import public_only_client
from wacommon.providers.meta.admin import GraphCallFailed, MetaAdminClient, failure_status
from wacommon.repositories import providers as providers_repo

log = structlog.get_logger(__name__)

NUMBER_NOT_FOUND = "número não encontrado"
GRAPH_TIMEOUT_S = 15.0
# the offline imitation's app: the sandbox Graph accepts any app id for a code it issued
SANDBOX_APP_ID = "sandbox-app"
_GRAPH_ID = re.compile(r"\d{1,32}")
_HEADER_SAFE = re.compile(r"[!-~]+")


@dataclass(frozen=True)
class SignupMode:
    """`sdk`: Facebook's JS SDK with the app and configuration ids; `sandbox`: no app is
    configured, the page imitates the popup against the configured (fake) Graph."""

    kind: str
    app_id: str
    app_secret: str | None
    config_id: str | None


def signup_mode(settings: ConsoleSettings) -> SignupMode:
    secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None
    if settings.meta_app_id:
        return SignupMode("sdk", settings.meta_app_id, secret, settings.meta_signup_config_id)
    return SignupMode("sandbox", SANDBOX_APP_ID, secret or "sandbox", None)


def graph_http(request: Request) -> httpx.AsyncClient:
    """The guarded client for Graph calls, one per app. The Graph URL is the operator's
    setting, so its host is allowed even when it is a loopback fake (tests, `make run`)."""
    found: httpx.AsyncClient | None = getattr(request.app.state, "meta_channels_http", None)
    if found is None:
        settings: ConsoleSettings = request.app.state.deps.settings
        graph_host = (urlsplit(settings.meta_graph_url).hostname or "").lower()
        hosts = settings.link_hosts() | ({graph_host} if graph_host else set())
        found = public_only_client(hosts, timeout_s=GRAPH_TIMEOUT_S)
        request.app.state.meta_channels_http = found
    return found


def admin_client(request: Request, mode: SignupMode | None = None) -> MetaAdminClient:
    settings: ConsoleSettings = request.app.state.deps.settings
    return MetaAdminClient(
        graph_http(request),
        base_url=settings.meta_graph_url,
        version=settings.meta_graph_version,
        app_id=mode.app_id if mode else None,
        app_secret=mode.app_secret if mode else None,
    )


def graph_refusal(exc: GraphCallFailed) -> HTTPException:
    """Graph's own message and code, for the owner (they never carry a token): 400 when
    Meta refused what was asked, 409 when the stored credentials stopped working, 502 when
    Meta failed or could not be reached."""
    code = f" (código {exc.code})" if exc.code else ""
    return HTTPException(failure_status(exc), f"A Meta recusou{code}: {exc.message}")


async def graph_failed(
    deps: ConsoleDeps, tenant: UUID, row: dict[str, Any], exc: GraphCallFailed
) -> HTTPException:
    log.warning("console_meta_graph_failed", tenant_id=str(tenant), step=exc.step, code=exc.code)
    if exc.credentials_invalid:
        await providers_repo.mark_health(
            deps.pool, str(tenant), str(row["id"]), healthy=False, error=exc.message[:500]
        )
    return graph_refusal(exc)


async def tenant_numbers(deps: ConsoleDeps, tenant: UUID) -> list[dict[str, Any]]:
    rows = await providers_repo.list_providers(deps.pool, deps.secrets, str(tenant))
    meta = [r for r in rows if r["provider_type"] == "meta"]
    return sorted(meta, key=lambda r: (not r["is_default"], str(r.get("instance_name") or "")))


async def tenant_number(deps: ConsoleDeps, tenant: UUID, provider_id: str) -> dict[str, Any]:
    """One of the tenant's Meta numbers; any other id (another tenant's too) is 404."""
    try:
        UUID(provider_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NUMBER_NOT_FOUND) from None
    row = await providers_repo.get_provider(deps.pool, deps.secrets, str(tenant), provider_id)
    if row is None or row["provider_type"] != "meta":
        raise HTTPException(status.HTTP_404_NOT_FOUND, NUMBER_NOT_FOUND)
    return row


def credential(row: dict[str, Any], key: str) -> str:
    """A stored Graph id or token, checked before it becomes a URL segment or a header."""
    value = str(row["config"].get(key) or "")
    pattern = _HEADER_SAFE if key == "access_token" else _GRAPH_ID
    if not value or not pattern.fullmatch(value):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"este número não tem um {key} válido: conecte-o de novo pelo cadastro da Meta",
        )
    return value


def number_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the page and the API show of a number: ids, names, state; secrets masked."""
    config = row["config"]
    shown = mask({k: v for k, v in config.items() if k != PIN_KEY})
    return {
        "id": str(row["id"]),
        "instance_name": row.get("instance_name"),
        "phone_number_id": config.get("phone_id"),
        "waba_id": config.get("waba_id"),
        "display_phone_number": config.get("display_phone_number") or row.get("phone_number"),
        "verified_name": config.get("verified_name"),
        "registered": bool(config.get(PIN_KEY)),
        "access_token": shown.get("access_token"),
        "is_default": bool(row.get("is_default")),
        "is_active": bool(row.get("is_active")),
        "healthy": row.get("healthy"),
        "last_error": row.get("last_error"),
    }
