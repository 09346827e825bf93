"""What the gateway's routers talk to, built once by `main.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from wacommon.broker.publisher import AioPikaPublisher
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings


@dataclass(frozen=True)
class GatewayDeps:
    """What the gateway's routers talk to."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    # the webhook's fast path publishes prepared AMQP messages (`publish_raw`) as well
    publisher: AioPikaPublisher
    secrets: SecretBox
