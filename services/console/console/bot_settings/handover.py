"""The handover section: `tools_config.atendimento_humano`, the stop words of
`.desativar_ia` and the pause commands of `.commands`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from console.bot_settings.base import SectionForm, Stored, merge
from console.bot_settings.fields import Word, unique_words


class HandoverForm(SectionForm):
    section: ClassVar[str] = "handover"

    # when the model should call a person (the transfer tool's instructions)
    instructions: str | None = Field(None, max_length=2000)
    timeout_minutes: float | None = Field(None, gt=0, le=30 * 24 * 60, allow_inf_nan=False)
    # after a person answers: the bot comes back when the timeout ends, or never by itself
    resume: Literal["after_timeout", "never"] | None = None
    # customer commands that hand the conversation to a person (e.g. #stop)
    pause_commands: list[Word] | None = Field(None, max_length=20)
    # words in a person's message that stop the bot in that conversation for good
    stop_words: list[Word] | None = Field(None, max_length=50)
    # whether the customer may bring the bot back with #ativar
    customer_can_resume: bool | None = None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        handover = stored.part("atendimento_humano")
        commands = stored.part("commands")
        stop = stored.part("desativar_ia").get("instructions")
        timeout = handover.get("timeout_minutes")
        if timeout is None and stored.human_attendant_timeout:
            timeout = stored.human_attendant_timeout / 60
        pause = commands.get("pause")
        return {
            "instructions": handover.get("instructions"),
            "timeout_minutes": timeout,
            "resume": "never" if handover.get("permanent_on_human_reply") else "after_timeout",
            "pause_commands": list(pause) if isinstance(pause, list) else ["#stop", "#pausa"],
            "stop_words": [w.strip() for w in str(stop or "").split(",") if w.strip()],
            "customer_can_resume": bool(commands.get("customer_can_resume", False)),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "instructions": None,
            "timeout_minutes": 60.0,
            "resume": "after_timeout",
            "pause_commands": ["#stop", "#pausa"],
            "stop_words": [],
            "customer_can_resume": False,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        handover: dict[str, Any] = {}
        for key in ("instructions", "timeout_minutes"):
            if key in sent:
                handover[key] = sent[key]
        if "resume" in sent:
            handover["permanent_on_human_reply"] = True if sent["resume"] == "never" else None
        if handover:
            stored.tools["atendimento_humano"] = merge(stored.part("atendimento_humano"), handover)
        commands: dict[str, Any] = {}
        if "pause_commands" in sent:
            commands["pause"] = unique_words(sent["pause_commands"]) or None
        if "customer_can_resume" in sent:
            commands["customer_can_resume"] = sent["customer_can_resume"]
        if commands:
            stored.tools["commands"] = merge(stored.part("commands"), commands)
        if "stop_words" in sent:
            words = ", ".join(unique_words(sent["stop_words"]) or [])
            stored.tools["desativar_ia"] = merge(
                stored.part("desativar_ia"), {"instructions": words or None}
            )
