"""The responder port: given a conversation and the new burst, decide and write the reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from wacommon.repositories.reply_files import ReplyFile

Role = Literal["customer", "bot", "human", "campaign", "system"]


@dataclass(frozen=True)
class Turn:
    """One message of the conversation as the model sees it."""

    role: Role
    text: str
    at: datetime


@dataclass(frozen=True)
class Tenant:
    """The tenant facts a responder needs (`clients` row, decrypted)."""

    id: str
    name: str
    system_prompt: str
    timezone: str
    tools_config: dict[str, Any]


@dataclass(frozen=True)
class ResponderInput:
    """Everything the responder may use; `burst` is what the customer just wrote."""

    tenant: Tenant
    conversation_id: str
    contact_key: str
    contact_name: str | None
    history: list[Turn]
    burst: list[Turn]
    now: datetime
    correlation_id: str = ""
    # what a lead form told us about the customer (wacommon.conversation.lead_context)
    lead_context: dict[str, Any] | None = None
    # a conversation of the web sandbox: side-effect tools are shown, not run
    sandbox: bool = False
    # a real customer's turn answered again by the replay lab: nothing may reach them
    replay: bool = False


@dataclass
class Usage:
    """Model usage of one reply, for cost metrics."""

    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # each call with its arguments (name, ok, error, dry_run, arguments): the sandbox's trace
    tool_trace: list[dict[str, Any]] = field(default_factory=list)
    # the knowledge-base passages the reply was grounded on (document, score, text)
    passages: list[dict[str, Any]] = field(default_factory=list)
    # whether the reply rests on those passages, judged on their whole text
    # (`waai.grounding.judge_grounded`); None: nothing to judge
    grounded: bool | None = None


@dataclass
class ResponderOutput:
    """What to do: send `messages` (bubbles, in order), and/or hand over to a human."""

    messages: list[str]
    handover_reason: str | None = None
    opt_out: bool = False
    usage: Usage = field(default_factory=Usage)
    # choices to tap under the last message (buttons/list on Meta, numbered text elsewhere)
    options: list[str] = field(default_factory=list)
    options_button: str | None = None
    # an emoji on the customer's last message
    reaction: str | None = None
    # knowledge-base files sent as they are, after the text
    files: list[ReplyFile] = field(default_factory=list)


def turn_from_row(row: dict[str, Any]) -> Turn:
    """A stored `chat_messages` row as the model sees it."""
    outbound_role = "human" if row["role"] == "human" else "bot"
    if (row.get("payload") or {}).get("alert_to"):
        # an alert sent to the owner's number, not to the customer
        outbound_role = "system"
    role = row["role"] if row["direction"] == "in" else outbound_role
    text = row["content"] or f"[{row['kind']}]"
    if row["kind"] == "reaction":
        text = f"[reagiu com {row['content']}]"
    return Turn(role=cast(Role, role), text=text, at=row["created_at"])


class Responder(Protocol):
    """Produces the reply to a burst."""

    async def respond(self, inp: ResponderInput) -> ResponderOutput: ...


PASSAGE_TEXT_CHARS = 400


def passage_summary(passage: Any) -> dict[str, Any]:
    """A retrieved passage as a reply's trace keeps it (the text shortened)."""
    text = str(getattr(passage, "text", ""))
    if len(text) > PASSAGE_TEXT_CHARS:
        text = text[: PASSAGE_TEXT_CHARS - 1].rstrip() + "…"
    return {
        "document": str(getattr(passage, "document", "")),
        "score": round(float(getattr(passage, "score", 0.0)), 4),
        "text": text,
    }
