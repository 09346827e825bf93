"""Dead-letter redrive: move the dead-lettered messages a filter picks back to their work queue.

A redriven message keeps its message id and body, so consumers' idempotency (provider
message ids, outbox keys) still holds. It carries its history in our own headers
(`wa-redrive-count`, `wa-redriven-at`, `wa-death-history`, `wa-last-error`), so one that
fails again lands in its dead-letter queue with every earlier death listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from wacommon.broker import topology
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.infra.settings import Settings


@dataclass(frozen=True)
class Filter:
    tenant: str | None = None
    type: str | None = None
    min_age: timedelta | None = None
    max_age: timedelta | None = None
    # a case-insensitive part of the last error or of the broker's death reason
    error: str | None = None

    def matches(self, message: AbstractIncomingMessage, now: datetime) -> bool:
        headers = message.headers or {}
        if self.tenant and str(headers.get("tenant_id") or "") != self.tenant:
            return False
        if self.type and message.type != self.type:
            return False
        if self.error:
            said = f"{_last_error(message) or ''} {_reason(message) or ''}".lower()
            if self.error.lower() not in said:
                return False
        stamp = message.timestamp
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        age = now - stamp if stamp else None
        if self.min_age and (age is None or age < self.min_age):
            return False
        return not (self.max_age and (age is None or age > self.max_age))


@dataclass(frozen=True)
class Moved:
    queue: str
    message_id: str | None
    type: str | None
    tenant_id: str | None
    reason: str | None
    last_error: str | None = None
    redrives: int = 0


# our own history headers: they survive the broker's dead-lettering and our redrives
REDRIVE_COUNT = "wa-redrive-count"
REDRIVEN_AT = "wa-redriven-at"
DEATH_HISTORY = "wa-death-history"
LAST_ERROR = "wa-last-error"
_HISTORY_KEPT = 20


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


def _reason(message: AbstractIncomingMessage) -> str | None:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return _text(deaths[0].get("reason"))
    return None


def _last_error(message: AbstractIncomingMessage) -> str | None:
    value = (message.headers or {}).get(LAST_ERROR)
    return _text(value) if value else None


def _deaths(message: AbstractIncomingMessage) -> list[str]:
    """The broker's `x-death` entries of this stay in the dead-letter queue, one line each."""
    deaths = (message.headers or {}).get("x-death")
    lines = []
    for death in deaths if isinstance(deaths, list) else []:
        if isinstance(death, dict):
            when = death.get("time")
            stamp = when.isoformat() if isinstance(when, datetime) else _text(when or "")
            lines.append(
                f"{_text(death.get('queue'))} {_text(death.get('reason'))}"
                f" count={_text(death.get('count'))} at={stamp}"
            )
    return lines


def _redrive_copy(message: AbstractIncomingMessage, now: datetime) -> aio_pika.Message:
    """The clean copy plus what it went through: one that fails again shows it all."""
    copy = clean_copy(message)
    old = message.headers or {}
    earlier = old.get(DEATH_HISTORY)
    history = [_text(h) for h in earlier] if isinstance(earlier, list) else []
    error = _last_error(message)
    history += [f"{line} error={error}" if error else line for line in _deaths(message)]
    headers: dict[str, Any] = dict(copy.headers or {})
    headers[REDRIVE_COUNT] = _count(old.get(REDRIVE_COUNT)) + 1
    headers[REDRIVEN_AT] = now.isoformat()
    headers[DEATH_HISTORY] = history[-_HISTORY_KEPT:]
    # the error it meets next is written afresh; the old one is in the history
    headers.pop(LAST_ERROR, None)
    copy.headers = headers
    return copy


def clean_copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if not k.startswith("x-death")
        and k
        not in (
            "x-retry-count",
            "wa-retry-tier",
            "x-first-death-exchange",
            "x-first-death-queue",
            "x-first-death-reason",
            "x-delivery-count",
        )
    }
    headers["x-replayed"] = True
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
    )


async def replay_dead_letters(
    connection: AbstractRobustConnection,
    settings: Settings,
    *,
    queues: list[str] | None = None,
    where: Filter | None = None,
    dry_run: bool = False,
) -> list[Moved]:
    """Move matching dead-lettered messages back to their work queues (or only list them)."""
    where = where or Filter()
    names = queues or [wq.name for wq in topology.WORK_QUEUES]
    publisher = AioPikaPublisher(connection, settings)
    moved: list[Moved] = []
    now = datetime.now(UTC)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                dlq = await channel.get_queue(topology.dlq_name(settings.q(name)), ensure=False)
                held: list[AbstractIncomingMessage] = []
                while (message := await dlq.get(no_ack=False, fail=False)) is not None:
                    held.append(message)
                for message in held:
                    if not where.matches(message, now):
                        continue
                    headers = message.headers or {}
                    moved.append(
                        Moved(
                            name,
                            message.message_id,
                            message.type,
                            str(headers.get("tenant_id") or "") or None,
                            _reason(message),
                            _last_error(message),
                            _count(headers.get(REDRIVE_COUNT)),
                        )
                    )
                    if dry_run:
                        continue
                    await publisher.publish_raw(
                        _redrive_copy(message, now),
                        exchange=topology.REQUEUE,
                        routing_key=settings.q(name),
                    )
                    await message.ack()
            finally:
                # whatever was not moved goes back to the dead-letter queue
                await channel.close()
    finally:
        await publisher.close()
    return moved
