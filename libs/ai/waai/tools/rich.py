"""Replies beyond plain text: tappable choices and a reaction to the customer's message.

The tools only record the wish (ToolOutcome); the pipeline shapes the outbox rows
(rag_worker.rich_reply): reply buttons or a list on Meta, numbered text elsewhere.
"""

from __future__ import annotations

from typing import Any

from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec

MAX_OPTIONS = 10
MAX_OPTION_CHARS = 72


def options_tool(instructions: str = "") -> Tool:
    """Offer the customer choices to tap, shown under the reply's last message."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("options")
        if not isinstance(raw, list):
            raise ToolFailed("invalid_options", "options must be a list of short texts")
        options = [str(o).strip()[:MAX_OPTION_CHARS] for o in raw if str(o).strip()]
        options = list(dict.fromkeys(options))
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise ToolFailed("invalid_options", f"give between 2 and {MAX_OPTIONS} options")
        ctx.outcome.options = options
        button = str(args.get("button") or "").strip()
        ctx.outcome.options_button = button[:20] or None
        return {
            "status": "options_shown",
            "tell_customer": "Write the question; the options appear under it, do not list them.",
        }

    return Tool(
        ToolSpec(
            "offer_options",
            "Show the customer 2 to 10 short choices to tap under your reply"
            " (up to 3 become buttons, more a list). Use when the answer is a choice.",
            {
                "type": "object",
                "properties": {
                    "options": {"type": "array", "items": {"type": "string"}},
                    "button": {"type": "string", "description": "list button label"},
                },
                "required": ["options"],
            },
        ),
        run,
        instructions,
    )


def reaction_tool(instructions: str = "") -> Tool:
    """React to the customer's last message with one emoji (as the tenant's rules say)."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        emoji = str(args.get("emoji") or "").strip()
        # one emoji (a few code points with modifiers and joiners), never a sentence
        if not emoji or len(emoji) > 8 or any(ch.isalnum() for ch in emoji):
            raise ToolFailed("invalid_emoji", "give exactly one emoji")
        ctx.outcome.reaction = emoji
        return {"status": "reaction_queued"}

    return Tool(
        ToolSpec(
            "react_to_message",
            "React to the customer's last message with one emoji.",
            {
                "type": "object",
                "properties": {"emoji": {"type": "string"}},
                "required": ["emoji"],
            },
        ),
        run,
        instructions,
    )
