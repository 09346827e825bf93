"""The error taxonomy: consumers map these to ack, retry, pause or dead-letter; the edges to HTTP.

Two kinds of failure must never be confused (issue 16, item 4): a message that cannot be
handled (bad data, a bug it triggers) is retried a few times and dead-lettered; a dependency
that does not answer (database, Redis, broker) says nothing about the message, so it must not
cost the message a retry or reach a dead-letter queue. `suspected_dependencies` is the one place
that tells an error which dependencies may be down; the consumer then asks those dependencies
(a probe) before deciding, so an error that only looks like an outage still counts as a retry.
"""

from __future__ import annotations

from typing import Final

import aiormq.exceptions
import asyncpg
import redis.exceptions

DATABASE: Final = "database"
REDIS: Final = "redis"
BROKER: Final = "broker"
DEPENDENCIES: Final = frozenset({DATABASE, REDIS, BROKER})


class RetryableError(Exception):
    """A transient failure: retry the message later with back-off."""


class DependencyUnavailable(RetryableError):
    """A dependency did not answer; raised by code that knows which one."""

    dependency: str = BROKER

    def __init__(self, message: str, *, dependency: str | None = None) -> None:
        super().__init__(message)
        if dependency is not None:
            self.dependency = dependency


class PermanentError(Exception):
    """Retrying will not help: dead-letter the message and log once."""


class CredentialNotFound(PermanentError):
    """No active provider instance and no legacy credentials for a tenant."""


class RouteTaken(Exception):
    """A provider instance would take a number (route key) another active instance owns."""


_DATABASE_ERRORS: Final = (
    asyncpg.PostgresConnectionError,  # 08xxx: connection lost, refused, rejected
    asyncpg.exceptions.OperatorInterventionError,  # cannot connect now, admin/crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,  # "connection is closed" and other client-side link states
)
_REDIS_ERRORS: Final = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a failover left us on a replica
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)
_BROKER_ERRORS: Final = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.ChannelClosed,
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The error and everything it was raised from or during (cycles and depth bounded)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 32:
        cur = todo.pop()
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        # `raise X from None` declares the context beside the point (a parser's own timeout
        # wrapped as "unreadable file"): following it would take the file for an outage
        context = None if cur.__suppress_context__ else cur.__context__
        todo += [e for e in (cur.__cause__, context) if e is not None]
        if isinstance(cur, BaseExceptionGroup):
            todo += list(cur.exceptions)
    return seen


def suspected_dependencies(exc: BaseException) -> frozenset[str]:
    """The dependencies whose outage could explain `exc`; empty when it is the message's fault.

    A bare network error (refused, reset, timeout) does not say whose link it was, so it
    suspects every dependency; the probe that follows finds out which one, if any, is down.
    """
    found: set[str] = set()
    for err in _chain(exc):
        if isinstance(err, DependencyUnavailable):
            found.add(err.dependency)
        elif isinstance(err, _DATABASE_ERRORS):
            found.add(DATABASE)
        elif isinstance(err, _REDIS_ERRORS):
            found.add(REDIS)
        elif isinstance(err, _BROKER_ERRORS):
            found.add(BROKER)
        elif isinstance(err, OSError):  # ConnectionError, TimeoutError (asyncio's too)
            found.update(DEPENDENCIES)
    return frozenset(found)
