"""FollowupWriter and ReminderCheck on the tenant's LLM (`tools_config["llm_config"]`).

A tenant without a usable LLM, or whose model refuses the request (bad key, unknown
model), gets the offline defaults; a model that is down raises LLMUnavailable so the
claimed row is retried by a later scan when its lease ends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from followup.completion import Completion, complete
from followup.writers import (
    FINISHED,
    FollowupDecision,
    FollowupRequest,
    FollowupWriter,
    Line,
    OfflineFollowupWriter,
    OfflineReminderCheck,
    ReminderCheck,
    ReminderDecision,
    ReminderRequest,
)
from waai.formatting import to_whatsapp
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, LLMConfig, llm_config_of
from waai.llm.errors import LLMRejected
from waai.tools.calendar_hours import WEEKDAYS_PT, zone
from wacommon.infra.crypto import SecretBox
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import EventLog
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory

log = structlog.get_logger(__name__)

SKIP = "SKIP"
MAX_TOKENS = 400
_LABELS = {"customer": "Cliente", "human": "Atendente humano", "campaign": "Empresa (campanha)"}
_DEFAULT_INSTRUCTION = "Pergunte com gentileza se o cliente ainda precisa de ajuda."
_TOKEN = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class TenantLLM:
    """A tenant's persona and model, for one scheduled message."""

    name: str
    persona: str
    timezone: str
    config: LLMConfig


class TenantLLMs:
    """A tenant's LLM configuration from the TenantDirectory; None when it has none (offline)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        ai: AISettings,
        secrets: SecretBox,
        tenants: TenantDirectory | None = None,
    ) -> None:
        self._ai = ai
        self._tenants = tenants or PgTenantDirectory(pool, secrets)

    async def get(self, tenant_id: str) -> TenantLLM | None:
        """The tenant's model, or None for the offline defaults."""
        tenant = await self._tenants.get(tenant_id)
        if tenant is None:
            return None
        try:
            config = llm_config_of(tenant.llm, self._ai)
        except ValueError as exc:
            log.warning("llm_config_invalid", tenant_id=tenant_id, error=str(exc))
            return None
        if config.provider == "offline" or config.api_key is None:
            return None
        return TenantLLM(tenant.name, tenant.system_prompt, tenant.timezone, config)


class _LLMPort:
    """What both adapters share: the tenant lookup, the call and its usage event."""

    def __init__(
        self, tenants: TenantLLMs, clients: LLMClients, events: EventLog | None = None
    ) -> None:
        self._tenants = tenants
        self._clients = clients
        self._events = events

    async def _ask(
        self,
        tenant: TenantLLM,
        tenant_id: str,
        conversation_id: str,
        system: str,
        user: str,
        purpose: str,
    ) -> Completion:
        done = await complete(self._clients, tenant.config, system, user, max_tokens=MAX_TOKENS)
        if self._events is not None:
            data = {
                "model": tenant.config.model,
                "tokens_in": done.tokens_in,
                "tokens_out": done.tokens_out,
                "purpose": purpose,
            }
            try:
                await self._events.append(
                    tenant_id, ev.LLM_USAGE, data, conversation_id=conversation_id
                )
            except Exception as exc:
                log.warning("llm_usage_event_failed", error=repr(exc))
        return done


class LLMFollowupWriter(_LLMPort):
    """The stage's text written by the tenant's model, or FINISHED to close the conversation."""

    def __init__(
        self,
        tenants: TenantLLMs,
        clients: LLMClients,
        events: EventLog | None = None,
        fallback: FollowupWriter | None = None,
    ) -> None:
        super().__init__(tenants, clients, events)
        self._fallback = fallback or OfflineFollowupWriter()

    async def write(self, request: FollowupRequest) -> FollowupDecision:
        """Ask the model; offline default when the tenant has none or it refuses."""
        tenant = await self._tenants.get(request.tenant_id)
        if tenant is None:
            return await self._fallback.write(request)
        try:
            done = await self._ask(
                tenant,
                request.tenant_id,
                request.conversation_id,
                followup_system(tenant, request),
                transcript(request.history, request.contact_name),
                "followup",
            )
        except LLMRejected as exc:
            log.warning("followup_llm_rejected", tenant_id=request.tenant_id, error=str(exc))
            return await self._fallback.write(request)
        if _is(done.text, FINISHED):
            return FollowupDecision(finished=True)
        return FollowupDecision(text=to_whatsapp(done.text.strip()))


class LLMReminderCheck(_LLMPort):
    """The tenant's model decides whether a due reminder still makes sense, and words it."""

    def __init__(
        self,
        tenants: TenantLLMs,
        clients: LLMClients,
        events: EventLog | None = None,
        fallback: ReminderCheck | None = None,
    ) -> None:
        super().__init__(tenants, clients, events)
        self._fallback = fallback or OfflineReminderCheck()

    async def check(self, request: ReminderRequest) -> ReminderDecision:
        """SKIP (or FINISHED) cancels; any other answer is the reminder to send."""
        tenant = await self._tenants.get(request.tenant_id)
        if tenant is None:
            return await self._fallback.check(request)
        try:
            done = await self._ask(
                tenant,
                request.tenant_id,
                request.conversation_id,
                reminder_system(tenant, request),
                transcript(request.newer, None) or "(nenhuma)",
                "reminder_check",
            )
        except LLMRejected as exc:
            log.warning("reminder_llm_rejected", tenant_id=request.tenant_id, error=str(exc))
            return await self._fallback.check(request)
        if _is(done.text, SKIP) or _is(done.text, FINISHED):
            return ReminderDecision(send=False, why="llm_check")
        text = to_whatsapp(done.text.strip()) or f"Lembrete: {request.text}"
        return ReminderDecision(send=True, text=text)


def _is(answer: str, token: str) -> bool:
    return _TOKEN.sub("", answer).upper() == token


def _now_line(tenant: TenantLLM, now: datetime) -> str:
    local = now.astimezone(zone(tenant.timezone))
    return (
        f"Agora: {WEEKDAYS_PT[local.weekday()]}, {local:%d/%m/%Y %H:%M} (fuso {tenant.timezone})."
    )


def _persona(tenant: TenantLLM) -> str:
    return tenant.persona.strip() or f"Você é o assistente virtual de {tenant.name} no WhatsApp."


def transcript(lines: Sequence[Line], contact_name: str | None) -> str:
    """The conversation as the model reads it, oldest first."""
    body = [f"{_LABELS.get(m.role, 'Assistente')}: {m.text.strip()}" for m in lines if m.text]
    if body and contact_name:
        body.insert(0, f"(Nome do cliente no WhatsApp: {contact_name})")
    return "\n".join(body)


def followup_system(tenant: TenantLLM, request: FollowupRequest) -> str:
    """Persona, time, the stage's instruction and the FINISHED rule."""
    instruction = request.stage.instruction.strip() or _DEFAULT_INSTRUCTION
    return "\n\n".join(
        (
            _persona(tenant),
            _now_line(tenant, request.now),
            f"O cliente parou de responder. Escreva o follow-up número {request.stage_number}"
            f" para retomar a conversa abaixo. Instrução desta etapa: {instruction}",
            "Regras:\n- Uma única mensagem curta e cordial de WhatsApp, no idioma do cliente."
            "\n- Use só fatos da conversa; nunca invente preços, prazos, horários ou políticas."
            "\n- Se a conversa já terminou (o cliente se despediu, resolveu o que queria ou disse"
            f" que não tem interesse), responda apenas {FINISHED}."
            f"\n- Responda só com o texto da mensagem, ou {FINISHED}.",
        )
    )


def reminder_system(tenant: TenantLLM, request: ReminderRequest) -> str:
    """Persona, time, the reminder and the SKIP rule; the user turn holds the newer messages."""
    tz = zone(tenant.timezone)
    return "\n\n".join(
        (
            _persona(tenant),
            f'Um lembrete combinado com o cliente venceu: "{request.text}" (criado em'
            f" {request.created_at.astimezone(tz):%d/%m/%Y %H:%M}, para"
            f" {request.due_at.astimezone(tz):%d/%m/%Y %H:%M}). A mensagem do usuário traz o que"
            " foi conversado depois que o lembrete foi criado.",
            "Se o lembrete não faz mais sentido (o cliente cancelou, já resolveu, ou combinou"
            f" outra data), responda apenas {SKIP}. Senão, escreva a mensagem do lembrete para o"
            " cliente: curta, cordial, no idioma dele, sem inventar fatos.",
        )
    )
