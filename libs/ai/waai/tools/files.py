"""send_file: a knowledge-base file (a menu PDF, a price-table image) sent as it is."""

from __future__ import annotations

from typing import Any

from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec
from wacommon.repositories import reply_files

MAX_FILES_PER_REPLY = 3


def send_file_tool(instructions: str = "") -> Tool:
    """Send one of the tenant's files instead of pasting its text."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        files = await reply_files.list_files(ctx.pool, ctx.tenant_id)
        wanted = str(args.get("name") or "").strip()
        found = reply_files.find(files, wanted)
        if found is None:
            names = ", ".join(f.name for f in files) or "none"
            raise ToolFailed("unknown_file", f"No file named {wanted!r}. Files: {names}.")
        if found.id not in {f.id for f in ctx.outcome.files}:
            if len(ctx.outcome.files) >= MAX_FILES_PER_REPLY:
                raise ToolFailed("too_many_files", "At most 3 files per reply.")
            ctx.outcome.files.append(found)
        return {
            "status": "file_queued",
            "tell_customer": "Say in one short sentence that the file follows; do not paste it.",
        }

    return Tool(
        ToolSpec(
            "send_file",
            "Send the customer one of the business's files (as named in the knowledge base,"
            " e.g. the menu or a price table) as a file, instead of copying its text.",
            {
                "type": "object",
                "properties": {"name": {"type": "string", "description": "the file's name"}},
                "required": ["name"],
            },
        ),
        run,
        instructions,
    )
