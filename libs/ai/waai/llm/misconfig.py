"""A tenant whose model cannot work: the customer still gets an answer, the error is seen.

What the customer gets meanwhile is the offline bot's answer (knowledge-base passages, and
its own handover when it cannot answer). A handover on every turn would instead pause the
bot for each customer of the tenant until a person steps in, for an error only the owner
or the support team can fix. What they see: an `llm_misconfigured` event on every turn it
affects (with the reason), the `wa_llm_misconfigured_total{reason}` counter, and an error
log line once per tenant per hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter

from waai.llm.errors import LLMRejected
from waai.responders.responder import Responder, ResponderInput, ResponderOutput
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import EventLog

log = structlog.get_logger(__name__)

MISCONFIGURED = Counter(
    "wa_llm_misconfigured_total",
    "Turns answered by the offline bot because the tenant's model is misconfigured",
    ["reason"],
)
# provider answers that no retry can cure: the key or the model name is wrong
_STATUS_REASONS = {401: "unauthorized", 403: "forbidden", 404: "model_not_found"}


def rejection_reason(status: int | None) -> str:
    """The event's reason for a provider's HTTP rejection."""
    if status is None:
        return "rejected"
    return _STATUS_REASONS.get(status, f"rejected_http_{status}")


class OncePerTenant:
    """Says whether an error line is due: at most one per tenant per `every_s`."""

    def __init__(
        self, every_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def due(self, tenant_id: str) -> bool:
        now = self._clock()
        last = self._last.get(tenant_id)
        if last is not None and now - last < self._every_s:
            return False
        self._last[tenant_id] = now
        return True


# the worker builds a responder per burst: the hourly limit lives with the process
PROCESS_LOG_LIMIT = OncePerTenant()


class MisconfigReporter:
    """Event and metric on every affected turn, the error line once per tenant per hour."""

    def __init__(self, events: EventLog, limit: OncePerTenant = PROCESS_LOG_LIMIT) -> None:
        self._events = events
        self._limit = limit

    async def report(self, inp: ResponderInput, reason: str, data: dict[str, Any]) -> None:
        MISCONFIGURED.labels(reason).inc()
        if self._limit.due(inp.tenant.id):
            log.error("llm_misconfigured", tenant_id=inp.tenant.id, reason=reason, **data)
        await self._events.append(
            inp.tenant.id,
            ev.LLM_MISCONFIGURED,
            {"reason": reason, **data},
            conversation_id=inp.conversation_id,
            correlation_id=inp.correlation_id or None,
        )


class MisconfiguredResponder:
    """The configuration itself is wrong: every turn answers offline and reports why."""

    def __init__(
        self, offline: Responder, reporter: MisconfigReporter, reason: str, detail: str
    ) -> None:
        self._offline = offline
        self._reporter = reporter
        self._reason = reason
        self._detail = detail

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        await self._reporter.report(inp, self._reason, {"detail": self._detail})
        return await self._offline.respond(inp)


class GuardedResponder:
    """The tenant's model; a rejection no retry can cure answers offline and is reported.

    Before, a 401 or 404 dead-lettered the burst and the customer got nothing.
    """

    def __init__(
        self,
        inner: Responder,
        offline: Responder,
        reporter: MisconfigReporter,
        *,
        vendor: str,
        model: str,
    ) -> None:
        self.inner = inner
        self._offline = offline
        self._reporter = reporter
        self._vendor = vendor
        self._model = model

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        try:
            return await self.inner.respond(inp)
        except LLMRejected as exc:
            data = {"vendor": self._vendor, "model": self._model, "status": exc.status}
            reason = exc.reason or rejection_reason(exc.status)
            await self._reporter.report(inp, reason, data | {"detail": str(exc)})
            return await self._offline.respond(inp)
