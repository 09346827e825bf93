"""lookup_cep: Brazilian postcode to address through a ViaCEP-compatible API, cached per tenant."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec

FOUND_TTL = timedelta(days=30)
NOT_FOUND_TTL = timedelta(days=1)
_FIELDS = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf")


def normalize_cep(value: str) -> str | None:
    """Eight digits, or None when the text cannot be a CEP."""
    digits = re.sub(r"[\s.\-]", "", value.strip())
    return digits if re.fullmatch(r"\d{8}", digits) else None


def cep_tool(instructions: str = "") -> Tool:
    """The lookup_cep tool; the API base URL comes from the deployment settings."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        cep = normalize_cep(str(args["cep"]))
        if cep is None:
            raise ToolFailed(
                "malformed_cep", "A CEP has 8 digits, like 01310-100; ask the customer to check it."
            )
        cached = await ctx.pool.fetchrow(
            "SELECT found, data FROM cep_cache WHERE client_id = $1 AND cep = $2"
            " AND fetched_at > now() - CASE WHEN found THEN $3::interval ELSE $4::interval END",
            ctx.tenant_id,
            cep,
            FOUND_TTL,
            NOT_FOUND_TTL,
        )
        if cached is not None:
            found, data = bool(cached["found"]), dict(cached["data"])
        else:
            found, data = await _fetch(ctx, cep)
            await ctx.pool.execute(
                "INSERT INTO cep_cache (client_id, cep, found, data) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (client_id, cep) DO UPDATE SET found = EXCLUDED.found,"
                " data = EXCLUDED.data, fetched_at = now()",
                ctx.tenant_id,
                cep,
                found,
                data,
            )
        if not found:
            raise ToolFailed(
                "cep_not_found",
                f"CEP {cep[:5]}-{cep[5:]} does not exist; ask the customer to check it.",
            )
        return {"address": data}

    return Tool(
        ToolSpec(
            "lookup_cep",
            "Find the street address of a Brazilian CEP (postcode).",
            {
                "type": "object",
                "properties": {"cep": {"type": "string", "description": "8 digits"}},
                "required": ["cep"],
            },
        ),
        run,
        instructions,
    )


async def _fetch(ctx: ToolContext, cep: str) -> tuple[bool, dict[str, Any]]:
    url = f"{ctx.settings.viacep_url.rstrip('/')}/ws/{cep}/json/"
    try:
        resp = await ctx.http.get(url, timeout=ctx.settings.tool_timeout_s)
    except httpx.HTTPError as exc:
        raise ToolFailed("cep_service_unavailable", "The CEP service is unavailable.") from exc
    if resp.status_code == 400:
        return False, {}
    if resp.status_code != 200:
        raise ToolFailed("cep_service_unavailable", "The CEP service is unavailable.")
    try:
        body = resp.json()
    except ValueError as exc:
        raise ToolFailed("cep_service_unavailable", "The CEP service answered garbage.") from exc
    if not isinstance(body, dict) or body.get("erro") in (True, "true"):
        return False, {}
    return True, {k: body.get(k, "") for k in _FIELDS}
