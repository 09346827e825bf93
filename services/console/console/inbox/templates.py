"""The tenant's approved Meta templates, from the Graph API, cached briefly in Redis.

The page offers them when the 24-hour window is closed; the reply route checks a
template against them before queueing it (Meta would refuse an unknown one later).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis.asyncio as aioredis
import structlog

from console.settings import ConsoleSettings
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.meta.admin import GraphCallFailed, MetaAdminClient

log = structlog.get_logger(__name__)

CACHE_TTL_S = 300


class TemplatesUnavailable(Exception):
    """Graph could not list the templates (no WABA id, bad token, Graph down)."""


def _summary(template: dict[str, Any]) -> dict[str, Any]:
    body = next(
        (
            c.get("text")
            for c in template.get("components") or []
            if isinstance(c, dict) and c.get("type") in ("BODY", "body")
        ),
        None,
    )
    return {
        "name": template.get("name"),
        "language": template.get("language"),
        "category": template.get("category"),
        "body": body,
        "parameter_format": template.get("parameter_format"),
    }


async def approved_templates(
    redis: aioredis.Redis,
    http: httpx.AsyncClient,
    settings: ConsoleSettings,
    creds: ProviderCredentials,
) -> list[dict[str, Any]]:
    """The number's WABA's APPROVED templates (name, language, category, body text)."""
    waba = str(creds.config.get("waba_id") or "")
    token = str(creds.config.get("access_token") or creds.config.get("token") or "")
    if not waba or not token:
        raise TemplatesUnavailable("o número não tem WABA ou token configurado")
    key = settings.redis_prefix + f"console:templates:{creds.tenant_id}:{waba}"
    cached = await redis.get(key)
    if cached:
        data: list[dict[str, Any]] = json.loads(cached)
        return data
    client = MetaAdminClient(
        http, base_url=settings.meta_graph_url, version=settings.meta_graph_version
    )
    try:
        raw = await client.list_templates(waba, token, status="APPROVED")
    except (GraphCallFailed, ValueError) as exc:
        log.warning("templates_unavailable", error=str(exc)[:200])
        raise TemplatesUnavailable(str(getattr(exc, "message", exc))) from exc
    templates = [_summary(t) for t in raw if t.get("status", "APPROVED") == "APPROVED"]
    await redis.set(key, json.dumps(templates), ex=CACHE_TTL_S)
    return templates


def render(template: dict[str, Any] | None, parameters: list[str] | dict[str, str]) -> str | None:
    """The body text with its parameters filled in (what the thread shows)."""
    if template is None or not template.get("body"):
        return None
    text = str(template["body"])
    items = parameters.items() if isinstance(parameters, dict) else enumerate(parameters, 1)
    for name, value in items:
        text = text.replace("{{" + str(name) + "}}", str(value))
    return text
