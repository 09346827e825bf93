"""Tool registry: specs the model sees, per-tenant enablement, and a never-raising executor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import structlog

from waai.llm.config import AISettings
from wacommon.repositories.event_types import TOOL_USED
from wacommon.repositories.events import EventLog
from wacommon.repositories.reply_files import ReplyFile

log = structlog.get_logger(__name__)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ToolOutcome:
    """Effects a tool asks the pipeline to apply after the reply (state changes live there)."""

    handover_reason: str | None = None
    opt_out: bool = False
    # rich replies (waai.tools.rich): tappable choices, an emoji on the customer's message
    options: list[str] = field(default_factory=list)
    options_button: str | None = None
    reaction: str | None = None
    # knowledge-base files to send as they are (wacommon.repositories.reply_files)
    files: list[ReplyFile] = field(default_factory=list)


@dataclass
class ToolContext:
    """What a tool may use: the tenant, the conversation, and the shared clients."""

    pool: asyncpg.Pool
    tenant_id: str
    conversation_id: str | None
    contact_key: str
    contact_name: str | None
    timezone: str
    now: datetime
    http: httpx.AsyncClient
    events: EventLog
    settings: AISettings
    decrypt: Callable[[str], str]
    correlation_id: str | None = None
    outcome: ToolOutcome = field(default_factory=ToolOutcome)
    # the web sandbox ("Testar o bot"): tools with side effects are shown, not run
    dry_run: bool = False
    # the replay lab re-answering a real customer's turn: what would reach that customer
    # later (a reminder) is shown, not run, as well as every side effect
    replay: bool = False


class ToolFailed(Exception):
    """A tool could not do what was asked; `code` and the message go back to the model."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ToolFn = Callable[[ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    """A spec bound to the coroutine that runs it (tenant config already closed over)."""

    spec: ToolSpec
    run: ToolFn
    instructions: str = ""
    # changes something outside the conversation (a booking, a CRM row, a POST to the
    # tenant's system): skipped in a dry run, where the model gets `dry_run_result` instead
    side_effects: bool = False
    # schedules a message to the customer (a reminder): harmless to the sandbox's test
    # customer, so only a replay of a real conversation shows it instead of running it
    sends_later: bool = False

    def shown_only(self, ctx: ToolContext) -> bool:
        """Whether this call is described to the model instead of run (a dry run)."""
        if ctx.replay:
            return self.side_effects or self.sends_later
        return ctx.dry_run and self.side_effects


@dataclass
class ToolResult:
    """One executed call: what the model gets back (`content`, JSON) and how it went."""

    name: str
    ok: bool
    content: str
    error: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    # the call was shown, not made (a side-effect tool in the sandbox)
    dry_run: bool = False


class Toolbox:
    """The tools enabled for one tenant."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {t.spec.name: t for t in tools}

    @property
    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    @property
    def instructions(self) -> dict[str, str]:
        return {name: t.instructions for name, t in self._tools.items() if t.instructions}

    @property
    def with_side_effects(self) -> frozenset[str]:
        """The tools a dry run shows instead of running."""
        return frozenset(name for name, t in self._tools.items() if t.side_effects)

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    async def execute(
        self, ctx: ToolContext, name: str, arguments: str | Mapping[str, Any] | None
    ) -> ToolResult:
        """Run one call; every failure becomes a result for the model and a `tool_used` event."""
        args: dict[str, Any] = {}
        try:
            tool = self._tools.get(name)
            if tool is None:
                raise ToolFailed("unknown_tool", f"Tool {name!r} is not available.")
            args = _parse_args(arguments)
            _check_args(tool.spec.parameters, args)
            if tool.shown_only(ctx):
                result = ToolResult(name, True, _dumps(dry_run_result(name)), dry_run=True)
            else:
                data = await asyncio.wait_for(tool.run(ctx, args), ctx.settings.tool_timeout_s)
                result = ToolResult(name, True, _dumps({"ok": True, **data}))
        except ToolFailed as exc:
            result = ToolResult(name, False, _error(exc.code, exc.message), exc.code)
        except TimeoutError:
            result = ToolResult(
                name, False, _error("timeout", "The tool took too long."), "timeout"
            )
        except Exception as exc:
            log.warning("tool_crashed", tool=name, error=repr(exc))
            result = ToolResult(
                name, False, _error("internal_error", "The tool failed."), "internal_error"
            )
        result.arguments = args
        await _record(ctx, result)
        return result


def dry_run_result(name: str) -> dict[str, Any]:
    """What the model gets instead of a side effect: done in appearance, plainly a test."""
    return {
        "ok": True,
        "dry_run": True,
        "message": (
            f"Test conversation: {name} was NOT executed (nothing was booked, saved or sent)."
            " Answer as if it had succeeded, without inventing ids or confirmation numbers."
        ),
    }


async def _record(ctx: ToolContext, result: ToolResult) -> None:
    data: dict[str, Any] = {"tool": result.name, "ok": result.ok}
    if result.dry_run:
        data["dry_run"] = True
    if result.error:
        data["error"] = result.error
    try:
        await ctx.events.append(
            ctx.tenant_id,
            TOOL_USED,
            data,
            conversation_id=ctx.conversation_id,
            correlation_id=ctx.correlation_id,
        )
    except Exception as exc:
        log.warning("tool_event_failed", tool=result.name, error=repr(exc))


def _parse_args(arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise ToolFailed("invalid_arguments", "Arguments are not valid JSON.") from exc
    if not isinstance(parsed, dict):
        raise ToolFailed("invalid_arguments", "Arguments must be a JSON object.")
    return parsed


def _check_args(schema: Mapping[str, Any], args: dict[str, Any]) -> None:
    """Required arguments present and top-level types right (whole floats pass as integers)."""
    for key in schema.get("required", []):
        if args.get(key) in (None, ""):
            raise ToolFailed("invalid_arguments", f"Missing required argument {key!r}.")
    for key, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        value = args.get(key)
        if value is None or not isinstance(kind, str) or kind not in _JSON_TYPES:
            continue
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            args[key] = value = int(value)
        expected = _JSON_TYPES[kind]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise ToolFailed("invalid_arguments", f"Argument {key!r} must be {kind}.")


def _error(code: str, message: str) -> str:
    return _dumps({"ok": False, "error": code, "message": message})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def tool_settings(
    tools_config: Mapping[str, Any], *keys: str, default: bool = False
) -> dict[str, Any] | None:
    """The config of the first key present: a bool or an object with `active`; None when off."""
    for key in keys:
        if key in tools_config:
            value = tools_config[key]
            if isinstance(value, Mapping):
                return dict(value) if _truthy(value.get("active", True)) else None
            return {} if _truthy(value) else None
    return {} if default else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "sim"}
    return bool(value)
