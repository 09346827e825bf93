"""Customer commands: what is recognised, per-tenant configuration, and what is not a command."""

from __future__ import annotations

from typing import Any

import pytest

from wacommon.conversation import commands
from wacommon.conversation.commands import Command, CommandAction
from wacommon.tenants.config import parse_tenant


def parse_customer_command(text: str, tools: dict[str, Any]) -> Command | None:
    """The command as the ingest pipeline parses it: on the tenant's typed `commands`."""
    section = parse_tenant({"id": "t", "tools_config": tools}).commands
    return commands.parse_customer_command(text, section)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("#stop", CommandAction.PAUSE),
        ("#STOP", CommandAction.PAUSE),
        ("  #pausa  ", CommandAction.PAUSE),
        ("#pausa, preciso falar com alguém", CommandAction.PAUSE),
        ("#ativar", CommandAction.RESUME),
        ("#reset", CommandAction.RESET),
        ("#parar", CommandAction.OPT_OUT),
        ("#desativar", CommandAction.OPT_OUT),
        ("Não quero mais receber mensagens!", CommandAction.OPT_OUT),
        ("por favor, pare de me mandar mensagem", CommandAction.OPT_OUT),
        ("nao quero mais receber mensagens", CommandAction.OPT_OUT),
    ],
)
def test_default_commands(text: str, action: CommandAction) -> None:
    command = parse_customer_command(text, {})
    assert command is not None
    assert command.action is action


@pytest.mark.parametrize(
    "text",
    [
        "",
        "oi, quero saber o preço",
        "não pare de me mandar mensagem, gosto das promoções",
        "como faço para parar o débito automático?",
        "stop",
        "o #stop serve pra quê?",
    ],
)
def test_ordinary_messages_are_not_commands(text: str) -> None:
    assert parse_customer_command(text, {}) is None


def test_customers_may_not_resume_unless_the_tenant_allows() -> None:
    default = parse_customer_command("#ativar", {})
    allowed = parse_customer_command("#ativar", {"commands": {"customer_can_resume": True}})
    assert default is not None and not default.allowed
    assert allowed is not None and allowed.allowed


def test_tenant_commands_replace_the_defaults() -> None:
    tools: dict[str, Any] = {
        "commands": {
            "pause": ["#humano"],
            "opt_out": "#sair, #cancelar",
            "opt_out_phrases": ["me tira dessa lista"],
        }
    }
    assert parse_customer_command("#stop", tools) is None
    pause = parse_customer_command("#HUMANO", tools)
    assert pause is not None and pause.action is CommandAction.PAUSE
    for text in ("#cancelar", "Me tira dessa lista, por favor"):
        command = parse_customer_command(text, tools)
        assert command is not None and command.action is CommandAction.OPT_OUT
    assert parse_customer_command("não quero mais receber mensagens", tools) is None


def test_commands_can_be_disabled() -> None:
    assert parse_customer_command("#stop", {"commands": {"enabled": False}}) is None


def test_reset_may_be_forbidden_to_customers() -> None:
    command = parse_customer_command("#reset", {"commands": {"customer_can_reset": False}})
    assert command is not None and not command.allowed
