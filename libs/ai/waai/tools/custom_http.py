"""Custom HTTP tools a tenant defines in `tools_config["custom_tools"]`, without code."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waai.tools.guarded_http import check_url, fetch_capped
from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec
from wacommon.infra.netguard import UnsafePathSegment, path_segment

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_QUERY_METHODS = frozenset({"GET", "DELETE"})
# filled from the conversation, never by the model (removed from the schema it sees)
SERVER_PLACEHOLDERS = frozenset({"contact_phone", "conversation_id"})


class CustomToolInvalid(ValueError):
    """A custom tool definition a tenant saved cannot be used."""


@dataclass(frozen=True)
class CustomToolDef:
    """One custom tool: what the model sees and the request it becomes."""

    name: str
    description: str
    parameters: dict[str, Any]
    method: str
    url: str
    headers: dict[str, str]
    instructions: str = ""
    # declared by the tenant (`side_effects`); by default every method but GET changes something
    side_effects: bool = False


def parse_custom_tool(raw: Mapping[str, Any]) -> CustomToolDef:
    """Validate one definition from `custom_tools`."""
    name = str(raw.get("name") or "")
    if not _NAME.match(name):
        raise CustomToolInvalid(f"invalid custom tool name {name!r}")
    method = str(raw.get("method") or "GET").upper()
    if method not in _METHODS:
        raise CustomToolInvalid(f"invalid method {method!r} for {name}")
    url = raw.get("url") or raw.get("url_template")
    if not isinstance(url, str) or not url:
        raise CustomToolInvalid(f"custom tool {name} has no url")
    if "{" in url.split("://", 1)[-1].split("/", 1)[0]:
        # the model fills placeholders: it must never choose where the tenant's headers go
        raise CustomToolInvalid(f"custom tool {name} has a placeholder in its host")
    params = raw.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, Mapping) or params.get("type", "object") != "object":
        raise CustomToolInvalid(f"parameters of {name} must be a JSON-schema object")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise CustomToolInvalid(f"headers of {name} must be an object")
    side_effects = raw.get("side_effects", method != "GET")
    if not isinstance(side_effects, bool):
        raise CustomToolInvalid(f"side_effects of {name} must be true or false")
    return CustomToolDef(
        name=name,
        description=str(raw.get("description") or name)[:1000],
        parameters=_without_server_placeholders({"type": "object", **dict(params)}),
        method=method,
        url=url,
        headers={str(k): str(v) for k, v in headers.items()},
        instructions=str(raw.get("instructions") or ""),
        side_effects=side_effects,
    )


def custom_tool(defn: CustomToolDef) -> Tool:
    """A tool that sends the request its definition describes; the answer is size-capped."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        url, rest = render_url(defn.url, args, server_values(ctx))
        target = await check_url(url, ctx.settings.tool_allowed_hosts)
        headers = {k: ctx.decrypt(v) for k, v in defn.headers.items()}
        query = rest if defn.method in _QUERY_METHODS else None
        body = None if defn.method in _QUERY_METHODS else rest
        resp = await fetch_capped(
            ctx.http,
            defn.method,
            target,
            max_bytes=ctx.settings.custom_tool_max_bytes,
            timeout_s=ctx.settings.tool_timeout_s,
            headers=headers,
            params={k: _scalar(v) for k, v in (query or {}).items()},
            json_body=body,
        )
        if not 200 <= resp.status < 300:
            raise ToolFailed(f"http_{resp.status}", f"The service answered: {resp.text[:300]}")
        return {
            "status": resp.status,
            "body": _body(resp.text, resp.truncated, resp.content_type),
            "truncated": resp.truncated,
        }

    return Tool(
        ToolSpec(defn.name, defn.description, defn.parameters),
        run,
        defn.instructions,
        side_effects=defn.side_effects,
    )


def server_values(ctx: ToolContext) -> dict[str, str]:
    """Placeholders the conversation fills: the model can neither see nor choose them."""
    return {"contact_phone": ctx.contact_key, "conversation_id": ctx.conversation_id or ""}


def render_url(
    template: str, args: Mapping[str, Any], server: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Fill `{name}` placeholders, each as one encoded path segment; unused arguments returned.

    `server` values win over the model's arguments of the same name, which are dropped.
    """
    fixed = dict(server or {})
    model_args = {k: v for k, v in args.items() if k not in SERVER_PLACEHOLDERS}
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        value: Any = fixed.get(key) if key in SERVER_PLACEHOLDERS else model_args.get(key)
        if value in (None, ""):
            raise ToolFailed("invalid_arguments", f"Missing required argument {key!r}.")
        used.add(key)
        try:
            return path_segment(_scalar(value))
        except UnsafePathSegment as exc:
            raise ToolFailed("invalid_arguments", f"Argument {key!r}: {exc}.") from None

    url = _PLACEHOLDER.sub(fill, template)
    return url, {k: v for k, v in model_args.items() if k not in used}


def _without_server_placeholders(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    if isinstance(props, Mapping):
        schema["properties"] = {k: v for k, v in props.items() if k not in SERVER_PLACEHOLDERS}
    required = schema.get("required")
    if isinstance(required, list):
        schema["required"] = [k for k in required if k not in SERVER_PLACEHOLDERS]
    return schema


def _scalar(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _body(text: str, truncated: bool, content_type: str) -> Any:
    if not truncated and "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
