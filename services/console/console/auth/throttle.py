"""Failed sign-ins, counted per email and per client address in Redis (moving windows).

`limits` keeps the windows; it shares the service's Redis connection pool and key
prefix. Unknown emails are counted exactly like known ones, so the throttle does not
tell which addresses have accounts either.
"""

from __future__ import annotations

import hashlib
import math
import time

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from console.settings import ConsoleSettings


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, settings: ConsoleSettings) -> None:
        storage = RedisStorage(
            settings.redis_url.replace("redis", "async+redis", 1),
            implementation="redispy",
            key_prefix=settings.rkey("console", "login-throttle"),
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)
        window = settings.console_login_window_s
        self._per_email = RateLimitItemPerSecond(settings.console_login_max_per_email, window)
        self._per_address = RateLimitItemPerSecond(settings.console_login_max_per_address, window)

    def _keys(self, email: str, address: str) -> list[tuple[RateLimitItemPerSecond, str, str]]:
        email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return [(self._per_email, "email", email_key), (self._per_address, "addr", address)]

    async def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until the next attempt is allowed, or None when it is allowed now."""
        wait = 0.0
        for item, kind, ident in self._keys(email, address):
            if not await self._limiter.test(item, kind, ident):
                stats = await self._limiter.get_window_stats(item, kind, ident)
                wait = max(wait, stats.reset_time - time.time())
        return max(1, math.ceil(wait)) if wait > 0 else None

    async def failed(self, email: str, address: str) -> None:
        for item, kind, ident in self._keys(email, address):
            await self._limiter.hit(item, kind, ident)

    async def succeeded(self, email: str, address: str) -> None:
        """A right password clears its email's count (the address keeps its count)."""
        item, kind, ident = self._keys(email, address)[0]
        await self._limiter.clear(item, kind, ident)
