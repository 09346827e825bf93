"""A reply's outbox rows: text bubbles, the choices under the last one, a reaction.

Choices become Meta reply buttons (3 or fewer, titles of 20 characters or less) or a list
(up to 10 rows); on Uazapi and LancePilot, which have no such messages here, the row goes
as numbered text. The row's `content` is always that numbered text: the history, the
console and the other providers read it; the Meta object rides in `payload.interactive`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_worker.voice_reply import FILENAME as VOICE_FILENAME
from rag_worker.voice_reply import VoiceNote
from waai.responders.responder import ResponderOutput

BUTTON_TITLE_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
INTERACTIVE_BODY_MAX = 1024
LIST_BUTTON = "Ver opções"
# providers whose client sends reactions (LancePilot's API has none)
REACTION_PROVIDERS = frozenset({"meta", "uazapi"})


@dataclass(frozen=True)
class Bubble:
    """One outbox row of a reply: its content, kind and what its payload adds."""

    content: str
    kind: str = "text"
    extra: dict[str, Any] = field(default_factory=dict)
    # a knowledge-base file whose bytes the row sends (copied to outbound_media)
    file_id: str | None = None
    # bytes made for this reply (a voice note), stored in outbound_media
    data: bytes | None = None


def reply_rows(
    output: ResponderOutput,
    *,
    provider: str | None,
    react_to: str | None,
    voice: VoiceNote | None = None,
) -> list[Bubble]:
    """The rows of a reply, in send order: text (or its voice note), files, the reaction."""
    bubbles = [Bubble(text) for text in output.messages if text.strip()]
    if voice is not None:
        # the text stays the row's content: the history and the console read it
        extra = {"stored_media": True, "voice": True, "filename": VOICE_FILENAME}
        bubbles = [Bubble(voice.text, "audio", extra, data=voice.data)]
    if output.options and bubbles:
        bubbles[-1] = with_options(bubbles[-1].content, output.options, output.options_button)
    for f in output.files:
        # the sender uploads it (Meta: /media, then by id; Uazapi: base64), as it does
        # an attendant's file
        extra = {"stored_media": True, "filename": f.name}
        bubbles.append(Bubble(f.name, f.kind, extra, file_id=f.id))
    if output.reaction and react_to and provider in REACTION_PROVIDERS:
        bubbles.append(Bubble(output.reaction, "reaction", {"reaction_to": react_to}))
    return bubbles


def with_options(body: str, options: Sequence[str], button: str | None = None) -> Bubble:
    """The message with choices: Meta's interactive object plus its numbered-text form."""
    numbered = body.rstrip() + "\n\n" + "\n".join(f"{i}. {o}" for i, o in enumerate(options, 1))
    if len(body) > INTERACTIVE_BODY_MAX or not 1 <= len(options) <= 10:
        return Bubble(numbered)
    interactive: dict[str, Any]
    if len(options) <= 3 and all(len(o) <= BUTTON_TITLE_MAX for o in options):
        interactive = {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"opcao_{i}", "title": o}}
                    for i, o in enumerate(options, 1)
                ]
            },
        }
    else:
        rows = []
        for i, option in enumerate(options, 1):
            row = {"id": f"opcao_{i}", "title": option[:ROW_TITLE_MAX]}
            if len(option) > ROW_TITLE_MAX:
                # the whole option stays readable under its cut title
                row["description"] = option[:ROW_DESCRIPTION_MAX]
            rows.append(row)
        interactive = {
            "type": "list",
            "body": {"text": body},
            "action": {"button": (button or LIST_BUTTON)[:20], "sections": [{"rows": rows}]},
        }
    return Bubble(numbered, "interactive", {"interactive": interactive})


def last_customer_message_id(rows: Sequence[dict[str, Any]]) -> str | None:
    """The provider id of the burst's last customer message (what a reaction points at)."""
    for row in reversed(rows):
        if row.get("provider_message_id"):
            return str(row["provider_message_id"])
    return None
