"""Which failures are the infrastructure's (retry later) and which are the data's (set aside).

A batch or a webhook with several items must not let one item the database refuses
hold back the others; but a database, broker or Redis outage is nobody's item:
the work is retried as a whole once the service is back.
"""

from __future__ import annotations

import asyncio

import asyncpg

from wacommon.infra.errors import RetryableError, suspected_dependencies

# the database not answering (a connection lost, the server shutting down): what a write
# that must not be given up (a provider's accepted send) retries through
DB_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # backend terminated, server shutting down
)

# conflicts that a later attempt of the same work resolves; outages are named by
# `suspected_dependencies`, the one place that tells an outage from the data's fault
_TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    asyncio.TimeoutError,
    RetryableError,
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
    asyncpg.exceptions.LockNotAvailableError,
)


def is_infrastructure(exc: BaseException) -> bool:
    """True when retrying the same work later can succeed (an outage, a conflict)."""
    if isinstance(exc, _TRANSIENT) or suspected_dependencies(exc):
        return True
    # aio-pika/aiormq errors without importing them here: any AMQP-layer failure is an outage
    module = type(exc).__module__
    return module.startswith(("aiormq", "aio_pika", "pamqp"))
