"""Ports that write follow-ups and vet reminders, with offline defaults that need no API key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from wacommon.conversation.followups import FollowupStage

FINISHED = "FINISHED"
_GOODBYE = re.compile(
    r"\b(obrigad[oa]|valeu|tchau|ate mais|até mais|resolvido|nao preciso|não preciso)\b", re.I
)
_CANCEL = re.compile(
    r"\b(cancel\w*|desmarc\w*|nao precisa|não precisa|esquece|ja resolvi|já resolvi)\b", re.I
)
DEFAULT_TEXTS = (
    "Oi{name}! Ficou alguma dúvida? Estou por aqui se precisar.",
    "Oi{name}, passando para saber se ainda posso te ajudar com alguma coisa.",
    "Vou encerrar nosso atendimento por aqui{name}. Se precisar, é só chamar!",
)


@dataclass(frozen=True)
class Line:
    """One message of the conversation, oldest first."""

    role: str
    text: str
    at: datetime


@dataclass(frozen=True)
class FollowupRequest:
    """What a writer sees: the stage, its number (1-based) and the recent conversation."""

    tenant_id: str
    conversation_id: str
    stage: FollowupStage
    stage_number: int
    contact_name: str | None
    history: list[Line]
    now: datetime


@dataclass(frozen=True)
class FollowupDecision:
    """The text to send (the caption for media), or finished: close the conversation instead."""

    text: str = ""
    finished: bool = False


class FollowupWriter(Protocol):
    """Writes a follow-up from the stage's instruction and the conversation (an LLM in production)."""

    async def write(self, request: FollowupRequest) -> FollowupDecision: ...


class OfflineFollowupWriter:
    """Fixed polite texts; finished when the customer's last words were a goodbye."""

    async def write(self, request: FollowupRequest) -> FollowupDecision:
        """The stage's fixed message, else a polite default for its number."""
        last_customer = next((m for m in reversed(request.history) if m.role == "customer"), None)
        if last_customer is not None and _GOODBYE.search(last_customer.text):
            return FollowupDecision(finished=True)
        if request.stage.message or request.stage.kind not in ("text", "llm"):
            return FollowupDecision(text=request.stage.message)
        name = f", {request.contact_name.split()[0]}" if request.contact_name else ""
        template = DEFAULT_TEXTS[min(request.stage_number, len(DEFAULT_TEXTS)) - 1]
        return FollowupDecision(text=template.format(name=name).replace("Oi, ", "Oi "))


@dataclass(frozen=True)
class ReminderRequest:
    """A due reminder and what the customer wrote after it was created."""

    tenant_id: str
    conversation_id: str
    text: str
    due_at: datetime
    created_at: datetime
    newer: list[Line]


@dataclass(frozen=True)
class ReminderDecision:
    """Send `text`, or not (with why)."""

    send: bool
    text: str = ""
    why: str | None = None


class ReminderCheck(Protocol):
    """Decides whether a due reminder still makes sense (an LLM in production)."""

    async def check(self, request: ReminderRequest) -> ReminderDecision: ...


class OfflineReminderCheck:
    """Sends unless the customer later wrote something like "cancela" or "não precisa"."""

    async def check(self, request: ReminderRequest) -> ReminderDecision:
        """Skip when a newer customer message cancels; else send the reminder as written."""
        for line in request.newer:
            if line.role == "customer" and _CANCEL.search(line.text):
                return ReminderDecision(send=False, why="customer_cancelled")
        return ReminderDecision(send=True, text=f"Lembrete: {request.text}")
