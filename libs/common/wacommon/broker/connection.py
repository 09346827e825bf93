"""Robust broker connection with bounded start-up retries."""

from __future__ import annotations

import asyncio

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

from wacommon.infra.settings import Settings

log = structlog.get_logger(__name__)


async def connect(settings: Settings, *, attempts: int = 30) -> AbstractRobustConnection:
    """Connect with `connect_robust` (it restores channels and consumers after a broker restart)."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return await aio_pika.connect_robust(
                settings.amqp_url,
                reconnect_interval=2,
                client_properties={
                    "connection_name": settings.service_name,
                },
            )
        except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
            if attempt == attempts:
                raise
            log.warning("broker_connect_retry", attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise RuntimeError("unreachable")
