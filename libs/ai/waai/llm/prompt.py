"""What the model sees: the system prompt and the conversation window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from waai.llm.ports import PassageLike
from waai.responders.responder import Tenant, Turn
from waai.tools.calendar_hours import WEEKDAYS_PT, zone
from waai.tools.registry import ToolSpec
from wacommon.conversation.lead_text import format_for_prompt
from wacommon.tenants.sections.ai import PersonaSection
from wacommon.tenants.sections.base import parse_section

MAX_PASSAGE_CHARS = 1500
_PREFIX = {"human": "[atendente humano] ", "campaign": "[mensagem enviada pela empresa] "}

RULES = "\n".join(
    (
        "Regras:",
        "- Responda no idioma do cliente (normalmente português do Brasil), curto e cordial,"
        " como numa conversa de WhatsApp.",
        "- Use só os fatos deste prompt, dos trechos da base de conhecimento e dos resultados das"
        " ferramentas. Nunca invente preços, prazos, endereços, horários ou políticas.",
        "- Se não souber a resposta, diga isso com honestidade e ofereça falar com um atendente.",
        "- Conteúdo que o cliente precise copiar (chave Pix, código de rastreio, CEP, e-mail) vai"
        " entre crases, `assim`.",
        "- Para agendar: consulte a disponibilidade antes de reservar e confirme com o cliente a"
        " data e a hora.",
    )
)


@dataclass(frozen=True)
class ChatTurn:
    """One message of the window, in the two roles chat models know."""

    role: Literal["user", "assistant"]
    text: str


def window(
    history: Sequence[Turn], now: datetime, max_messages: int, max_hours: float
) -> list[Turn]:
    """The last `max_messages` turns not older than `max_hours` (oldest dropped first)."""
    since = now - timedelta(hours=max_hours)
    recent = [t for t in history if t.at >= since and t.role != "system" and t.text.strip()]
    return recent[-max_messages:] if max_messages > 0 else []


def chat_turns(history: Sequence[Turn], burst: Sequence[Turn]) -> list[ChatTurn]:
    """History then the burst, consecutive turns of one role merged into one message."""
    turns: list[ChatTurn] = []
    for turn in [*history, *burst]:
        if turn.role == "system" or not turn.text.strip():
            continue
        role: Literal["user", "assistant"] = "user" if turn.role == "customer" else "assistant"
        text = _PREFIX.get(turn.role, "") + turn.text.strip()
        if turns and turns[-1].role == role:
            turns[-1] = ChatTurn(role, f"{turns[-1].text}\n{text}")
        else:
            turns.append(ChatTurn(role, text))
    return turns


BUSINESS_KINDS = {
    "isp": "provedor de internet",
    "varejo": "varejo",
    "servicos": "prestação de serviços",
    "food": "alimentação",
    "saude": "saúde",
}


def _persona_lines(raw: Any, tenant_id: str) -> list[str]:
    """What the owner set in the console's persona section, as instructions to the model."""
    persona = parse_section(PersonaSection, raw, "persona", tenant_id)
    lines = []
    kind = BUSINESS_KINDS.get(persona.business_type or "")
    if kind:
        lines.append(f"Ramo do negócio: {kind}.")
    if persona.tone:
        lines.append(f"Tom das respostas: {persona.tone}.")
    if persona.greeting:
        lines.append(
            "Na primeira resposta de uma conversa nova, cumprimente o cliente com: "
            f"{persona.greeting}"
        )
    return lines


def system_prompt(
    tenant: Tenant,
    *,
    now: datetime,
    passages: Sequence[PassageLike],
    tools: Sequence[ToolSpec],
    tool_instructions: Mapping[str, str],
    contact_name: str | None = None,
    lead_context: Mapping[str, Any] | None = None,
) -> str:
    """Persona, date and time in the tenant's zone, rules, passages with sources, tools."""
    local = now.astimezone(zone(tenant.timezone))
    persona = tenant.system_prompt.strip() or (
        f"Você é o assistente virtual de {tenant.name} no WhatsApp."
    )
    parts = [
        persona,
        *_persona_lines(tenant.tools_config.get("persona"), tenant.id),
        f"Agora: {WEEKDAYS_PT[local.weekday()]}, {local:%d/%m/%Y %H:%M} (fuso {tenant.timezone}).",
        RULES,
    ]
    if contact_name:
        parts.append(f"Nome do cliente (pelo WhatsApp): {contact_name}")
    if lead_context:
        parts.append(format_for_prompt(dict(lead_context)))
    if passages:
        lines = ["Trechos da base de conhecimento (fonte entre colchetes):"]
        lines += [f"[{p.document}] {p.text.strip()[:MAX_PASSAGE_CHARS]}" for p in passages]
        parts.append("\n".join(lines))
    else:
        parts.append("Nenhum trecho da base de conhecimento corresponde a esta mensagem.")
    if tools:
        lines = ["Ferramentas disponíveis:"]
        for spec in tools:
            extra = tool_instructions.get(spec.name)
            lines.append(f"- {spec.name}: {spec.description}" + (f" {extra}" if extra else ""))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
