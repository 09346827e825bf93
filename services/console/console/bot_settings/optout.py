"""The opt-out section: phrases and commands in `tools_config.commands` (`wacommon.conversation.commands`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from console.bot_settings.base import SectionForm, Stored, merge
from console.bot_settings.fields import Word
from wacommon.conversation.commands import DEFAULT_OPT_OUT_PHRASES, DEFAULT_REPLIES

Phrase = Annotated[str, Field(min_length=1, max_length=200)]


class OptOutForm(SectionForm):
    section: ClassVar[str] = "optout"

    # phrases anywhere in a customer's message that stop every automatic message to them
    phrases: list[Phrase] | None = Field(None, max_length=100)
    # commands that do the same (e.g. #parar)
    commands: list[Word] | None = Field(None, max_length=20)
    reply: str | None = Field(None, max_length=1000)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("commands")
        phrases, commands = cfg.get("opt_out_phrases"), cfg.get("opt_out")
        replies = cfg.get("replies") if isinstance(cfg.get("replies"), dict) else {}
        return {
            "phrases": _listed(phrases, list(DEFAULT_OPT_OUT_PHRASES)),
            "commands": _listed(commands, ["#parar", "#desativar"]),
            "reply": (replies or {}).get("opt_out", DEFAULT_REPLIES["opt_out"]),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "phrases": list(DEFAULT_OPT_OUT_PHRASES),
            "commands": ["#parar", "#desativar"],
            "reply": DEFAULT_REPLIES["opt_out"],
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        cfg = stored.part("commands")
        values: dict[str, Any] = {}
        if "phrases" in sent:
            values["opt_out_phrases"] = sent["phrases"]
        if "commands" in sent:
            values["opt_out"] = sent["commands"]
        if "reply" in sent:
            replies = dict(cfg.get("replies") or {})
            if sent["reply"] is None:
                replies.pop("opt_out", None)
            else:
                replies["opt_out"] = sent["reply"]
            values["replies"] = replies or None
        stored.tools["commands"] = merge(cfg, values)


def _listed(value: Any, default: list[str]) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return default
    return [str(v).strip() for v in value if str(v).strip()]
