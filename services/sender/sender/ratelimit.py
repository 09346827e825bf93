"""Send rate limits shared by every sender process: GCRA in Redis, and Uazapi anti-ban pacing.

GCRA (generic cell rate algorithm): each key stores its theoretical arrival time (TAT) in
microseconds of the Redis clock (`TIME`, one clock for all processes). With emission interval
T = 1/rate and capacity `burst`, a request is admitted when `TAT + T - burst*T <= now`, and the
TAT then moves to max(TAT, now) + T: `burst` requests pass at once from idle, then one every T.
`acquire` reserves its slot atomically (the TAT moves even when the slot is in the future) and
sleeps until it, so concurrent senders are spaced exactly instead of retrying in a hot loop;
a reservation further than `max_wait_s` is refused (`RateLimitTimeout`) and nothing is reserved.

Keys: `number:<phone_id>` (Meta default 80/s per business number, configurable per provider
instance) and `pair:<phone_id>:<to>` (about one message every 6 s sustained, bursts of up to
45: the bubbles of one reply go out together, a sustained stream to one user is spaced). A pair
wait longer than `max_wait_s` should be retried later by the caller (requeue with a delay),
never failed. `penalize` (on 130429, 131056 or HTTP 429) empties the bucket and pushes the TAT
`seconds` ahead; slots reserved before the penalty keep their time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.infra.settings import Settings

NUMBER_RATE_PER_S = 80.0
NUMBER_BURST = 10
PAIR_RATE_PER_S = 1 / 6
PAIR_BURST = 45

# told the seconds about to be slept, before the sleep (the sender marks the row as waited on)
OnWait = Callable[[float], Awaitable[None]]

# KEYS[1] hash {tat, t, b}. ARGV: interval us, burst, max wait us (-1: no reservation).
# Returns the wait in us (0: admitted now), or -(wait) when refused.
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
if wait > 0 and wait > max_wait then return -wait end
redis.call('HSET', KEYS[1], 'tat', string.format('%d', new_tat), 't', ARGV[1], 'b', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now) / 1000) + 1000)
return wait
"""

# Two GCRA keys reserved together in one round trip (the pair, then the number at the moment the
# pair slot opens): KEYS[1] first hash, KEYS[2] second. ARGV: interval us and burst of each, max
# wait us. Returns the total wait in us, or -(wait) when refused; a refusal reserves nothing.
_GCRA2_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[5])
local function slot(key, interval, burst, at)
  local tat = tonumber(redis.call('HGET', key, 'tat') or '0')
  if tat < at then tat = at end
  local new_tat = tat + interval
  local wait = new_tat - burst * interval - at
  if wait < 0 then wait = 0 end
  return new_tat, wait
end
local i1, b1 = tonumber(ARGV[1]), tonumber(ARGV[2])
local i2, b2 = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat1, wait1 = slot(KEYS[1], i1, b1, now)
if wait1 > 0 and wait1 > max_wait then return -wait1 end
local tat2, wait2 = slot(KEYS[2], i2, b2, now + wait1)
local total = wait1 + wait2
if total > 0 and total > max_wait then return -total end
redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat1), 't', ARGV[1], 'b', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((tat1 - now) / 1000) + 1000)
redis.call('HSET', KEYS[2], 'tat', string.format('%d', tat2), 't', ARGV[3], 'b', ARGV[4])
redis.call('PEXPIRE', KEYS[2], math.ceil((tat2 - now) / 1000) + 1000)
return total
"""

# KEYS[1] the GCRA hash. ARGV: penalty us. The next admission is at now + penalty at the earliest.
_PENALIZE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
local burst = tonumber(redis.call('HGET', KEYS[1], 'b') or '1')
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local pushed = now + tonumber(ARGV[1]) + (burst - 1) * interval
if pushed > tat then
  redis.call('HSET', KEYS[1], 'tat', string.format('%d', pushed))
  redis.call('PEXPIRE', KEYS[1], math.ceil((pushed - now) / 1000) + 1000)
end
return pushed - now
"""

# KEYS: next-slot key, day counter. ARGV: min delay us, extra delay us, cap, counter ttl s,
# max wait us. Returns the wait in us; -1 cap reached; -2 - wait when the slot is too far.
_PACE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
if slot - now > tonumber(ARGV[5]) then return -2 - (slot - now) end
local cap = tonumber(ARGV[3])
if cap >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= cap then return -1 end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local after = slot + tonumber(ARGV[1]) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return slot - now
"""


class RateLimitTimeout(RetryableError):
    """The next slot is further away than the caller is willing to wait."""

    def __init__(self, key: str, retry_after_s: float) -> None:
        super().__init__(f"rate limit {key}: next slot in {retry_after_s:.3f} s")
        self.key = key
        self.retry_after_s = retry_after_s


class DailyCapReached(PermanentError):
    """An instance sent its daily maximum; nothing more goes out before `resets_at`."""

    def __init__(self, instance_id: str, cap: int, resets_at: datetime) -> None:
        super().__init__(f"daily cap {cap} reached for instance {instance_id}")
        self.instance_id = instance_id
        self.cap = cap
        self.resets_at = resets_at


async def _sleep(seconds: float, on_wait: OnWait | None) -> None:
    if seconds <= 0:
        return
    if on_wait is not None:
        await on_wait(seconds)
    await asyncio.sleep(seconds)


def number_key(phone_id: str) -> str:
    """The limiter key of one business number (all its outbound traffic)."""
    return f"number:{phone_id}"


def pair_key(phone_id: str, to: str) -> str:
    """The limiter key of one (business number, recipient) pair."""
    return f"pair:{phone_id}:{to}"


class RateLimiter:
    """GCRA limiter over Redis, shared by every process using the same prefix."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._settings = settings
        self._gcra = redis.register_script(_GCRA_LUA)
        self._gcra2 = redis.register_script(_GCRA2_LUA)
        self._penalize = redis.register_script(_PENALIZE_LUA)

    async def _call(self, key: str, rate_per_s: float, burst: int, max_wait_us: int) -> int:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        interval = max(1, round(1_000_000 / rate_per_s))
        keys = [self._settings.rkey("rl", key)]
        return int(await self._gcra(keys=keys, args=[interval, max(1, burst), max_wait_us]))

    async def try_acquire(self, key: str, rate_per_s: float, burst: int) -> float:
        """0 when admitted now; otherwise the ms to wait (nothing is reserved)."""
        wait = await self._call(key, rate_per_s, burst, -1)
        return 0.0 if wait >= 0 else -wait / 1000

    async def acquire(
        self,
        key: str,
        rate_per_s: float,
        burst: int,
        *,
        max_wait_s: float = 30,
        on_wait: OnWait | None = None,
    ) -> float:
        """Reserve the next slot and sleep until it; returns the seconds waited."""
        wait = await self._call(key, rate_per_s, burst, int(max_wait_s * 1_000_000))
        if wait < 0:
            raise RateLimitTimeout(key, -wait / 1_000_000)
        await _sleep(wait / 1_000_000, on_wait)
        return wait / 1_000_000

    async def acquire_both(
        self,
        first: tuple[str, float, int],
        second: tuple[str, float, int],
        *,
        max_wait_s: float = 30,
        on_wait: OnWait | None = None,
    ) -> float:
        """`acquire` of two (key, rate, burst) limits in one round trip; the seconds waited.

        The second slot is taken for the moment the first one opens (as two `acquire`
        calls in a row would), and a wait beyond `max_wait_s` reserves neither.
        """
        args: list[int] = []
        for _key, rate_per_s, burst in (first, second):
            if rate_per_s <= 0:
                raise ValueError("rate_per_s must be positive")
            args += [max(1, round(1_000_000 / rate_per_s)), max(1, burst)]
        keys = [self._settings.rkey("rl", first[0]), self._settings.rkey("rl", second[0])]
        wait = int(await self._gcra2(keys=keys, args=[*args, int(max_wait_s * 1_000_000)]))
        if wait < 0:
            raise RateLimitTimeout(f"{first[0]} + {second[0]}", -wait / 1_000_000)
        await _sleep(wait / 1_000_000, on_wait)
        return wait / 1_000_000

    async def penalize(self, key: str, seconds: float) -> None:
        """Push the key's next admission at least `seconds` ahead (a throttling answer)."""
        await self._penalize(keys=[self._settings.rkey("rl", key)], args=[int(seconds * 1_000_000)])

    async def acquire_send(
        self,
        phone_id: str,
        to: str,
        *,
        rate_per_s: float = NUMBER_RATE_PER_S,
        burst: int = NUMBER_BURST,
        max_wait_s: float = 30,
        on_wait: OnWait | None = None,
    ) -> float:
        """Pair limit then number limit for one outbound message; returns the seconds waited."""
        return await self.acquire_both(
            (pair_key(phone_id, to), PAIR_RATE_PER_S, PAIR_BURST),
            (number_key(phone_id), rate_per_s, burst),
            max_wait_s=max_wait_s,
            on_wait=on_wait,
        )


@dataclass(frozen=True)
class UazapiPacing:
    """Anti-ban pacing of one Uazapi instance."""

    min_delay_s: float = 3.0
    max_extra_delay_s: float = 4.0
    # messages per day; 0 or less: no cap
    daily_cap: int = 500
    timezone: str = "America/Sao_Paulo"

    @classmethod
    def from_config(cls, config: dict[str, Any], timezone: str | None = None) -> UazapiPacing:
        """Read `config["pacing"]`: min_delay_ms, max_extra_delay_ms, daily_cap."""
        raw = config.get("pacing") if isinstance(config, dict) else None
        raw = raw if isinstance(raw, dict) else {}
        d = cls()
        try:
            return cls(
                min_delay_s=max(0.0, float(raw.get("min_delay_ms", d.min_delay_s * 1000)) / 1000),
                max_extra_delay_s=max(
                    0.0, float(raw.get("max_extra_delay_ms", d.max_extra_delay_s * 1000)) / 1000
                ),
                daily_cap=int(raw.get("daily_cap", d.daily_cap)),
                timezone=timezone or d.timezone,
            )
        except (TypeError, ValueError):
            return cls(timezone=timezone or d.timezone)


class UazapiPacer:
    """Spaces the messages of a Uazapi instance across processes and enforces its daily cap."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._pace = redis.register_script(_PACE_LUA)

    async def wait_turn(
        self,
        instance_id: str,
        pacing: UazapiPacing,
        *,
        max_wait_s: float = 120,
        on_wait: OnWait | None = None,
    ) -> float:
        """Reserve the instance's next send slot and sleep until it; returns the seconds waited.

        Raises `DailyCapReached` (the day is counted in the pacing time zone) or
        `RateLimitTimeout` when the queue of reserved slots is longer than `max_wait_s`.
        """
        now = datetime.now(ZoneInfo(pacing.timezone))
        day = now.strftime("%Y%m%d")
        extra = random.uniform(0, pacing.max_extra_delay_s)
        wait = int(
            await self._pace(
                keys=[
                    self._settings.rkey("pace", instance_id, "next"),
                    self._settings.rkey("pace", instance_id, "day", day),
                ],
                args=[
                    int(pacing.min_delay_s * 1_000_000),
                    int(extra * 1_000_000),
                    pacing.daily_cap if pacing.daily_cap > 0 else -1,
                    2 * 86400,
                    int(max_wait_s * 1_000_000),
                ],
            )
        )
        if wait == -1:
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            raise DailyCapReached(instance_id, pacing.daily_cap, midnight)
        if wait < -1:
            raise RateLimitTimeout(f"pace:{instance_id}", (-wait - 2) / 1_000_000)
        await _sleep(wait / 1_000_000, on_wait)
        return wait / 1_000_000

    async def sent_today(self, instance_id: str, pacing: UazapiPacing) -> int:
        """How many slots the instance reserved today (its daily counter)."""
        day = datetime.now(ZoneInfo(pacing.timezone)).strftime("%Y%m%d")
        raw = await self._redis.get(self._settings.rkey("pace", instance_id, "day", day))
        return int(raw or 0)
