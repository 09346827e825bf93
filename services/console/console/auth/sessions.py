"""Server-side sessions in Redis: opaque cookie, idle expiry, revocable one by one or per user.

The cookie holds a random id; Redis holds, under a SHA-256 of that id (a copy of
Redis does not yield usable cookies), the user snapshot and the session's CSRF
token. Each read renews the idle timer (GETEX). A set per user indexes their
session ids so deactivating an account or changing its password ends them all.
The index has no TTL of its own (a session renewed all day would outlive any fixed
one and escape revocation); each sign-in prunes the entries whose session is gone,
so an index holds one user's live sessions plus those ended since their last sign-in.

Each process keeps the sessions it read for `cache_s` seconds (default 0.5, at most 1),
so the inbox's reads do not pay a Redis round trip each: a session revoked, expired or
changed by another process stops working (or shows the change) there at most `cache_s`
after, and at once in the process that revoked it. A cached read renews nothing; the
next read from Redis does (the idle expiry counts from the last renewal, so a session
may end up to `cache_s` earlier than CONSOLE_SESSION_HOURS after its last request).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from uuid import UUID

import orjson
import redis.asyncio as aioredis

from console.auth.models import ActingTenant, CurrentUser, Session
from wacommon.infra.settings import Settings


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# the most sessions one process remembers; past it the expired ones go, then all of them
CACHE_MAX = 10_000


class SessionStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        idle_hours: float,
        *,
        cache_s: float = 0.5,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self.idle_s = max(1, round(idle_hours * 3600))
        # the revocation bound is documented as "within a second": never longer
        self.cache_s = min(max(cache_s, 0.0), 1.0)
        # digest of the session id -> (monotonic time the Redis read started, session)
        self._cache: dict[str, tuple[float, Session]] = {}
        # bumped by every revocation or change here: a read in flight across one is not kept
        self._generation = 0

    def _forget(self, *digests: str) -> None:
        self._generation += 1
        for digest in digests:
            self._cache.pop(digest, None)

    def _remember(self, digest: str, read_at: float, session: Session) -> None:
        if len(self._cache) >= CACHE_MAX:
            now = time.monotonic()
            self._cache = {d: hit for d, hit in self._cache.items() if now - hit[0] < self.cache_s}
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
        self._cache[digest] = (read_at, session)

    def _key(self, session_id: str) -> str:
        return self._settings.rkey("console", "session", _digest(session_id))

    def _index(self, user_id: UUID | str) -> str:
        return self._settings.rkey("console", "user-sessions", str(user_id))

    async def create(self, user: CurrentUser) -> Session:
        """A new session (new id, new CSRF token) for a user who just signed in."""
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            csrf_token=secrets.token_urlsafe(32),
            created_at=time.time(),
        )
        index = self._index(user.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(session.id), self._dump(session), ex=self.idle_s)
            pipe.sadd(index, _digest(session.id))
            await pipe.execute()
        await self._prune(index)
        return session

    async def _prune(self, index: str) -> None:
        digests = [_text(d) for d in await self._redis.smembers(index)]
        if not digests:
            return
        prefix = self._settings.rkey("console", "session", "")
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.exists(prefix + digest)
            alive = await pipe.execute()
        dead = [d for d, live in zip(digests, alive, strict=True) if not live]
        if dead:
            await self._redis.srem(index, *dead)

    async def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value, renewing its idle timer; None when gone."""
        if not session_id or len(session_id) > 128:
            return None
        digest = _digest(session_id)
        # timed from before the read: a revocation that lands while it is in flight is
        # still seen at most `cache_s` after it
        read_at = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and read_at - hit[0] < self.cache_s:
            return hit[1]
        generation = self._generation
        raw = await self._redis.getex(self._key(session_id), ex=self.idle_s)
        if raw is None:
            self._cache.pop(digest, None)
            return None
        data = orjson.loads(raw)
        session = Session(
            id=session_id,
            user=CurrentUser.from_json(data["user"]),
            csrf_token=data["csrf"],
            created_at=data["created"],
            acting=ActingTenant.from_json(data.get("acting")),
        )
        if self.cache_s > 0 and generation == self._generation:
            self._remember(digest, read_at, session)
        return session

    async def revoke(self, session: Session) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(session.id))
            pipe.srem(self._index(session.user.id), _digest(session.id))
            await pipe.execute()
        # after the write: a read that started before it is not kept either (generation)
        self._forget(_digest(session.id))

    async def revoke_user(self, user_id: UUID | str, *, keep: Session | None = None) -> int:
        """End every session of a user (but `keep`); returns how many were live."""
        index = self._index(user_id)
        digests = {_text(d) for d in await self._redis.smembers(index)}
        if keep is not None:
            digests.discard(_digest(keep.id))
        if not digests:
            return 0
        prefix = self._settings.rkey("console", "session", "")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(prefix + d for d in digests))
            pipe.srem(index, *digests)
            deleted, _ = await pipe.execute()
        self._forget(*digests)
        return int(deleted)

    async def refresh_user(self, user: CurrentUser) -> None:
        """Write a changed name/locale into the user's live sessions (their timers are kept)."""
        index = self._index(user.id)
        prefix = self._settings.rkey("console", "session", "")
        digests = [_text(d) for d in await self._redis.smembers(index)]
        for digest in digests:
            key = prefix + digest
            raw = await self._redis.get(key)
            if raw is None:
                continue
            data = orjson.loads(raw)
            data["user"] = user.to_json()
            await self._redis.set(key, orjson.dumps(data), keepttl=True, xx=True)
        self._forget(*digests)

    async def set_acting(self, session: Session, acting: ActingTenant | None) -> bool:
        """Store (or clear, with None) the tenant an operator works in; False if the session
        ended meanwhile. Only this session changes: another sign-in keeps its own choice."""
        key = self._key(session.id)
        raw = await self._redis.get(key)
        if raw is None:
            return False
        data = orjson.loads(raw)
        data["acting"] = acting.to_json() if acting else None
        stored = bool(await self._redis.set(key, orjson.dumps(data), keepttl=True, xx=True))
        # the redirect right after choosing must not read the cached session without it
        self._forget(_digest(session.id))
        return stored

    @staticmethod
    def _dump(session: Session) -> bytes:
        return orjson.dumps(
            {
                "user": session.user.to_json(),
                "csrf": session.csrf_token,
                "created": session.created_at,
                "acting": session.acting.to_json() if session.acting else None,
            }
        )
