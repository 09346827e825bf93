"""transfer_to_human and opt_out: the tool records the wish; the pipeline changes the state."""

from __future__ import annotations

from typing import Any

from waai.tools.registry import Tool, ToolContext, ToolSpec


def transfer_tool(instructions: str = "") -> Tool:
    """Ask for a human attendant; the reply tells the customer, the pipeline hands over."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        reason = str(args.get("reason") or "requested").strip()[:300]
        ctx.outcome.handover_reason = reason
        return {
            "status": "handover_requested",
            "tell_customer": "A human attendant will take over this conversation shortly.",
        }

    return Tool(
        ToolSpec(
            "transfer_to_human",
            "Hand the conversation over to a human attendant"
            " (the customer asks for a person, or you cannot help).",
            {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "required": ["reason"],
            },
        ),
        run,
        instructions,
    )


def opt_out_tool(instructions: str = "") -> Tool:
    """Stop the bot for this customer for good (they asked not to be contacted)."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        ctx.outcome.opt_out = True
        return {
            "status": "opted_out",
            "tell_customer": "Confirm they will not receive automatic messages anymore.",
        }

    return Tool(
        ToolSpec(
            "opt_out",
            "The customer asks to stop receiving automatic messages.",
            {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
            },
        ),
        run,
        instructions,
    )
