"""The test customer an owner is playing: one sandbox contact per user and tenant.

Kept in Redis (the page needs nothing else to find the conversation); "Recomeçar" makes a
new one, so the bot meets a customer it has never seen.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from console.settings import ConsoleSettings
from wacommon.providers.sandbox import CONTACT_PATTERN, CONTACT_PREFIX

# a forgotten test customer is forgotten here too; its conversation stays in the database
CONTACT_TTL_S = 30 * 24 * 3600


def _key(settings: ConsoleSettings, tenant_id: str, user_id: str) -> str:
    return settings.rkey("console", "sandbox", tenant_id, user_id)


def new_contact() -> str:
    return CONTACT_PREFIX + uuid.uuid4().hex[:16]


async def current_contact(
    redis: aioredis.Redis, settings: ConsoleSettings, tenant_id: str, user_id: str
) -> str:
    """The user's test customer in this tenant (a new one the first time)."""
    key = _key(settings, tenant_id, user_id)
    found = await redis.get(key)
    value = found.decode() if isinstance(found, bytes) else found
    if isinstance(value, str) and CONTACT_PATTERN.match(value):
        await redis.expire(key, CONTACT_TTL_S)
        return value
    contact = new_contact()
    # another tab may have created one meanwhile: keep whichever was first
    if not await redis.set(key, contact, ex=CONTACT_TTL_S, nx=True):
        return await current_contact(redis, settings, tenant_id, user_id)
    return contact


async def reset_contact(
    redis: aioredis.Redis, settings: ConsoleSettings, tenant_id: str, user_id: str
) -> str:
    """A new test customer (the old conversation is left as it is)."""
    contact = new_contact()
    await redis.set(_key(settings, tenant_id, user_id), contact, ex=CONTACT_TTL_S)
    return contact
