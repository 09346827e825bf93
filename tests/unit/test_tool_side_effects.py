"""Which tools declare side effects, and what a dry run gives the model instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from waai.llm.config import AISettings
from waai.tools.catalog import build_toolbox
from waai.tools.custom_http import CustomToolInvalid, custom_tool, parse_custom_tool
from waai.tools.registry import Tool, Toolbox, ToolContext, ToolSpec
from wacommon.repositories.events import FakeEventLog


def _context(dry_run: bool, *, replay: bool = False) -> ToolContext:
    return ToolContext(
        pool=cast(Any, None),
        tenant_id="c1",
        conversation_id=None,
        contact_key="SANDBOX:0123456789abcdef",
        contact_name=None,
        timezone="America/Sao_Paulo",
        now=datetime.now(UTC),
        http=cast(httpx.AsyncClient, None),
        events=FakeEventLog(),
        settings=AISettings(),
        decrypt=lambda value: value,
        dry_run=dry_run,
        replay=replay,
    )


def _recording_tools(calls: list[str]) -> Toolbox:
    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(str(args.get("what")))
        return {"done": True}

    params = {"type": "object", "properties": {"what": {"type": "string"}}}
    return Toolbox(
        [
            Tool(ToolSpec("save_it", "writes", params), run, side_effects=True),
            Tool(ToolSpec("read_it", "reads", params), run),
        ]
    )


async def test_a_dry_run_skips_side_effect_tools_only_and_says_so() -> None:
    calls: list[str] = []
    tools = _recording_tools(calls)
    shown = await tools.execute(_context(True), "save_it", json.dumps({"what": "a"}))
    read = await tools.execute(_context(True), "read_it", {"what": "b"})
    made = await tools.execute(_context(False), "save_it", {"what": "c"})
    assert calls == ["b", "c"]
    assert shown.ok and shown.dry_run and shown.arguments == {"what": "a"}
    assert json.loads(shown.content)["dry_run"] is True
    assert not read.dry_run and json.loads(read.content) == {"ok": True, "done": True}
    assert not made.dry_run


async def test_a_replay_also_shows_what_would_message_the_customer_later() -> None:
    calls: list[str] = []

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(str(args.get("what")))
        return {"done": True}

    params = {"type": "object", "properties": {"what": {"type": "string"}}}
    tools = Toolbox(
        [
            Tool(ToolSpec("remind", "later", params), run, sends_later=True),
            Tool(ToolSpec("save_it", "writes", params), run, side_effects=True),
            Tool(ToolSpec("read_it", "reads", params), run),
        ]
    )
    # the sandbox's test customer may get a reminder; a real customer replayed may not
    sandbox = await tools.execute(_context(True), "remind", {"what": "sandbox"})
    replayed = [
        await tools.execute(_context(True, replay=True), name, {"what": name})
        for name in ("remind", "save_it", "read_it")
    ]
    assert calls == ["sandbox", "read_it"]
    assert not sandbox.dry_run
    assert [r.dry_run for r in replayed] == [True, True, False]
    assert build_toolbox({"reminders": True}).with_side_effects == frozenset()


async def test_a_dry_run_still_checks_the_arguments() -> None:
    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("a dry run never runs a side-effect tool")

    params = {"type": "object", "properties": {"what": {"type": "string"}}, "required": ["what"]}
    strict = Toolbox([Tool(ToolSpec("need", "x", params), run, side_effects=True)])
    missing = await strict.execute(_context(True), "need", {})
    assert not missing.ok and missing.error == "invalid_arguments"
    shown = await strict.execute(_context(True), "need", {"what": "x"})
    assert shown.ok and shown.dry_run


def test_booking_and_crm_writes_declare_side_effects_lookups_do_not() -> None:
    config = {
        "calendar": {"active": True},
        "crm": {"active": True},
        "lookup_cep": True,
    }
    toolbox = build_toolbox(config)
    assert "check_availability" in toolbox and "lookup_cep" in toolbox
    assert toolbox.with_side_effects == {
        "book_appointment",
        "cancel_appointment",
        "crm_upsert_lead",
        "crm_add_note",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"method": "GET"}, False),
        ({"method": "POST"}, True),
        ({"method": "DELETE"}, True),
        ({"method": "POST", "side_effects": False}, False),
        ({"method": "GET", "side_effects": True}, True),
    ],
)
def test_custom_tools_declare_side_effects_by_method_or_explicitly(
    raw: dict[str, Any], expected: bool
) -> None:
    defn = parse_custom_tool({"name": "pedido", "url": "https://erp.example/api", **raw})
    assert defn.side_effects is expected
    assert custom_tool(defn).side_effects is expected


def test_a_side_effects_flag_must_be_a_boolean() -> None:
    with pytest.raises(CustomToolInvalid, match="side_effects"):
        parse_custom_tool({"name": "pedido", "url": "https://erp.example", "side_effects": "yes"})
