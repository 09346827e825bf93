"""Shared pieces of the LLM responder tests: tenants, a static retriever, an offline stand-in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from waai.responders.responder import Responder, ResponderInput, ResponderOutput, Tenant, Turn
from wacommon.infra.crypto import SecretBox
from wacommon.repositories.events import FakeEventLog

TZ = ZoneInfo("America/Sao_Paulo")
BOX = SecretBox("llm-test-key")
CALENDAR = {
    "calendar": {
        "active": True,
        "slot_minutes": 60,
        "hours": {"seg": ["09:00", "12:00"], "ter": ["09:00", "12:00"]},
    }
}


def next_monday(after_days: int = 2) -> date:
    """The first Monday at least `after_days` from today in São Paulo."""
    day = datetime.now(TZ).date() + timedelta(days=after_days)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return day


async def new_tenant(pool: asyncpg.Pool, tools_config: dict[str, Any], prompt: str) -> Tenant:
    row = await pool.fetchrow(
        "INSERT INTO clients (name, system_prompt, tools_config) VALUES ($1, $2, $3) RETURNING id",
        "Clínica Sorriso",
        prompt,
        tools_config,
    )
    assert row is not None
    return Tenant(
        id=str(row["id"]),
        name="Clínica Sorriso",
        system_prompt=prompt,
        timezone="America/Sao_Paulo",
        tools_config=tools_config,
    )


@dataclass(frozen=True)
class Passage:
    document: str
    text: str
    score: float


class StaticRetriever:
    """The same passage for every query; records queries."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str, int]] = []

    async def search(self, tenant_id: str, query: str, k: int) -> Sequence[Passage]:
        self.queries.append((tenant_id, query, k))
        return [Passage("horarios.md", "Atendemos de segunda a sexta, das 9h às 18h.", 0.9)]


class Offline:
    """Stands in for the offline responder."""

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        return ResponderOutput(messages=["offline"])


class Setup:
    """A tenant's responder, the events it wrote, and a way to ask it as one customer."""

    def __init__(
        self,
        responder: Responder,
        tenant: Tenant,
        events: FakeEventLog,
        *,
        conversation_id: str,
        contact_key: str,
        contact_name: str,
    ) -> None:
        self.responder, self.tenant, self.events = responder, tenant, events
        self._who = (conversation_id, contact_key, contact_name)

    async def ask(self, text: str, history: list[Turn] | None = None) -> ResponderOutput:
        return await self.responder.respond(self.input(text, history))

    def input(self, text: str, history: list[Turn] | None = None) -> ResponderInput:
        """The responder's input for one customer message."""
        now = datetime.now(TZ)
        conversation_id, contact_key, contact_name = self._who
        return ResponderInput(
            tenant=self.tenant,
            conversation_id=conversation_id,
            contact_key=contact_key,
            contact_name=contact_name,
            history=history or [],
            burst=[Turn("customer", text, now)],
            now=now,
            correlation_id="corr-1",
        )
