"""Sign-in attempts, counted per email and per client address in Redis (moving windows).

Each attempt takes its slot atomically *before* the password is checked, so a burst
of parallel guesses gets no more tries than the limit (checking first and counting
after the slow hash let every request of a burst through). A right password gives
its email's slots back; the address keeps its count, so the address limit counts
attempts, and is set far above what an office behind one address needs.

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

    async def attempt(self, email: str, address: str) -> int | None:
        """Take a slot for one attempt: None when allowed, else the seconds to wait."""
        for item, kind, ident in reversed(self._keys(email, address)):  # the address first
            if not await self._limiter.hit(item, kind, ident):
                stats = await self._limiter.get_window_stats(item, kind, ident)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def succeeded(self, email: str, address: str) -> None:
        """A right password clears its email's count (the address keeps its count)."""
        item, kind, ident = self._keys(email, address)[0]
        await self._limiter.clear(item, kind, ident)
