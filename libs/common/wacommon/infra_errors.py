"""Which failures are the infrastructure's (retry later) and which are the data's (set aside).

A batch or a webhook with several items must not let one item the database refuses
hold back the others; but a database, broker or Redis outage is nobody's item:
the work is retried as a whole once the service is back.
"""

from __future__ import annotations

import asyncio

import asyncpg
import redis.exceptions

from wacommon.errors import RetryableError

_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError and socket errors
    TimeoutError,
    asyncio.TimeoutError,
    RetryableError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, backend terminated
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, out of memory
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
    asyncpg.exceptions.LockNotAvailableError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def is_infrastructure(exc: BaseException) -> bool:
    """True when retrying the same work later can succeed (an outage, a conflict)."""
    if isinstance(exc, _INFRASTRUCTURE):
        return True
    # aio-pika/aiormq errors without importing them here: any AMQP-layer failure is an outage
    module = type(exc).__module__
    return module.startswith(("aiormq", "aio_pika", "pamqp"))
