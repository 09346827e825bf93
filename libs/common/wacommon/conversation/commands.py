"""Customer chat commands (#stop, #ativar, #reset, opt-out), configurable per tenant.

The tenant's `commands` section (`wacommon.tenants.sections.CommandsSection`, stored as
`tools_config["commands"]`) may override: pause, resume, reset, opt_out (lists of
commands), opt_out_phrases, customer_can_resume, customer_can_reset,
pause_hours, replies {pause, resume, reset, opt_out}.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from wacommon.conversation import state as cs
from wacommon.infra.dbtypes import Conn
from wacommon.tenants.sections.conversation import CommandsSection

DEFAULT_COMMANDS: dict[str, list[str]] = {
    "pause": ["#stop", "#pausa"],
    "resume": ["#ativar"],
    "reset": ["#reset"],
    "opt_out": ["#parar", "#desativar"],
}
DEFAULT_OPT_OUT_PHRASES = [
    "não quero mais receber mensagens",
    "nao quero receber mais mensagens",
    "pare de me mandar mensagem",
    "pare de me enviar mensagem",
    "parem de me mandar mensagem",
    "não me mande mais mensagens",
    "remover meu número",
    "descadastrar",
]
DEFAULT_REPLIES = {
    "pause": "Certo! Pausei as respostas automáticas. Um atendente vai continuar com você.",
    "resume": "Respostas automáticas reativadas.",
    "reset": "Pronto, começamos uma conversa nova. Como posso ajudar?",
    "opt_out": "Tudo bem, você não receberá mais mensagens automáticas deste número.",
}
DEFAULT_PAUSE_HOURS = 24
CUSTOMER_PAUSE = "customer_command"
_NEGATIONS = ("nao ", "não ", "nunca ")


class CommandAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"
    OPT_OUT = "opt_out"


@dataclass(frozen=True)
class Command:
    """A recognised customer command; `allowed` is False when the tenant forbids it to customers."""

    action: CommandAction
    matched: str
    allowed: bool = True


@dataclass(frozen=True)
class CommandOutcome:
    """What the pipeline does next: send `reply_text` (as a system message) and/or stop."""

    reply_text: str | None
    stop_pipeline: bool


def normalize(text: str) -> str:
    """Lower case, no accents, single spaces, no trailing punctuation."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip().rstrip(".!?;,").strip()


def _words(value: Any, default: list[str]) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return default
    return [normalize(str(v)) for v in value if str(v).strip()]


def parse_customer_command(text: str, cfg: CommandsSection) -> Command | None:
    """The command in a customer's message, or None; commands must open the message."""
    if not cfg.enabled:
        return None
    norm = normalize(text)
    if not norm:
        return None
    first = re.split(r"[\s,.;:!?]+", norm, maxsplit=1)[0]
    for action in CommandAction:
        for word in _words(getattr(cfg, action.value), DEFAULT_COMMANDS[action.value]):
            if first == word or norm == word:
                return Command(action, word, _allowed(action, cfg))
    for phrase in _words(cfg.opt_out_phrases, [normalize(p) for p in DEFAULT_OPT_OUT_PHRASES]):
        at = norm.find(phrase)
        if at >= 0 and not norm[:at].endswith(_NEGATIONS):
            return Command(CommandAction.OPT_OUT, phrase)
    return None


def _allowed(action: CommandAction, cfg: CommandsSection) -> bool:
    if action is CommandAction.RESUME:
        return cfg.customer_can_resume
    if action is CommandAction.RESET:
        return cfg.customer_can_reset
    return True


def _reply(cfg: CommandsSection, action: CommandAction) -> str | None:
    replies = cfg.replies
    if replies is not None and action.value in replies:
        value = replies[action.value]
        return str(value) if value else None
    return DEFAULT_REPLIES[action.value]


async def apply_customer_command(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    command: Command,
    *,
    commands: CommandsSection | None = None,
    now: datetime | None = None,
    correlation_id: str | None = None,
) -> CommandOutcome:
    """Apply a customer command through the state machine; the message never reaches the bot."""
    cfg = commands or CommandsSection()
    done = False
    if command.action is CommandAction.PAUSE:
        hours = cfg.pause_hours
        at = now or await conn.fetchval("SELECT now()")
        until = at + timedelta(hours=float(hours)) if hours else None
        done = await cs.handover(
            conn,
            tenant_id,
            conversation_id,
            cause=CUSTOMER_PAUSE,
            until=until,
            correlation_id=correlation_id,
            now=now,
        )
    elif command.action is CommandAction.RESUME:
        # a customer may always undo their own pause; other pauses only when the tenant allows
        only = None if command.allowed else CUSTOMER_PAUSE
        done = await cs.resume(
            conn,
            tenant_id,
            conversation_id,
            cause=CUSTOMER_PAUSE,
            correlation_id=correlation_id,
            now=now,
            only_if_reason=only,
        )
    elif command.action is CommandAction.RESET:
        if command.allowed:
            done = await cs.reset_context(
                conn,
                tenant_id,
                conversation_id,
                cause=CUSTOMER_PAUSE,
                correlation_id=correlation_id,
                now=now,
            )
    elif command.action is CommandAction.OPT_OUT:
        done = await cs.opt_out(
            conn,
            tenant_id,
            conversation_id,
            cause=CUSTOMER_PAUSE,
            correlation_id=correlation_id,
            now=now,
        )
    return CommandOutcome(
        reply_text=_reply(cfg, command.action) if done else None, stop_pipeline=True
    )
