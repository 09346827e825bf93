"""Which tools a tenant has: built-ins switched on in `tools_config`, plus its custom tools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from waai.tools.calendar import calendar_tools
from waai.tools.calendar_hours import calendar_config
from waai.tools.cep import cep_tool
from waai.tools.crm import crm_tools
from waai.tools.custom_http import custom_tool, parse_custom_tool
from waai.tools.files import send_file_tool
from waai.tools.handover import opt_out_tool, transfer_tool
from waai.tools.registry import Tool, Toolbox, tool_settings
from waai.tools.reminder import reminder_tool
from waai.tools.rich import options_tool, reaction_tool

log = structlog.get_logger(__name__)

BUILTIN_NAMES = frozenset(
    {
        "check_availability",
        "book_appointment",
        "cancel_appointment",
        "lookup_cep",
        "crm_upsert_lead",
        "crm_add_note",
        "transfer_to_human",
        "opt_out",
        "create_reminder",
        "offer_options",
        "react_to_message",
        "send_file",
    }
)


def build_toolbox(tools_config: Mapping[str, Any]) -> Toolbox:
    """The tenant's toolbox; a broken tool config disables that tool only (logged)."""
    tools: list[Tool] = []
    builders: list[tuple[tuple[str, ...], bool, Callable[[dict[str, Any]], list[Tool]]]] = [
        (
            ("calendar",),
            False,
            lambda c: calendar_tools(calendar_config(c, tools_config), _instr(c)),
        ),
        (("lookup_cep", "consultar_cep"), False, lambda c: [cep_tool(_instr(c))]),
        (("crm",), False, lambda c: crm_tools(c, _instr(c))),
        (("reminders", "criar_lembrete"), False, lambda c: [reminder_tool(_instr(c))]),
        # handing over and opting out stay available unless a tenant turns them off
        (("transfer_to_human", "atendimento_humano"), True, lambda c: [transfer_tool(_instr(c))]),
        (("opt_out", "desativar_ia"), True, lambda c: [opt_out_tool(_instr(c))]),
        (("reply_options",), False, lambda c: [options_tool(_instr(c))]),
        (("reactions",), False, lambda c: [reaction_tool(_instr(c))]),
        (("send_files",), False, lambda c: [send_file_tool(_instr(c))]),
    ]
    for keys, default, build in builders:
        cfg = tool_settings(tools_config, *keys, default=default)
        if cfg is None:
            continue
        try:
            tools.extend(build(cfg))
        except (ValueError, TypeError) as exc:
            log.warning("tool_config_invalid", tool=keys[0], error=str(exc))
    tools.extend(_custom_tools(tools_config.get("custom_tools")))
    return Toolbox(tools)


def _custom_tools(raw: Any) -> list[Tool]:
    if not isinstance(raw, list):
        return []
    tools = []
    for item in raw:
        if not isinstance(item, Mapping) or not tool_settings({"t": item}, "t"):
            continue
        try:
            defn = parse_custom_tool(item)
        except ValueError as exc:
            log.warning("custom_tool_invalid", error=str(exc))
            continue
        if defn.name in BUILTIN_NAMES:
            log.warning("custom_tool_invalid", error=f"{defn.name} is a built-in name")
            continue
        tools.append(custom_tool(defn))
    return tools


def _instr(cfg: Mapping[str, Any]) -> str:
    value = cfg.get("instructions")
    return value.strip() if isinstance(value, str) else ""
