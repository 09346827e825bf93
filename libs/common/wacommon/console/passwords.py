"""Console passwords: argon2id through argon2-cffi, hashed and verified off the event loop.

A hash costs tens of milliseconds of CPU on purpose; running it in a thread keeps
one sign-in from stalling every other request of the process.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes anything; a cap keeps a huge body from costing more CPU

_hasher = PasswordHasher()

# argon2id holds its memory cost (64 MiB by default) for the whole hash: without a bound, a burst
# of sign-ins grows the process by 64 MiB per concurrent attempt (up to the thread pool's 32),
# past any sane memory limit. At most this many run at once; the rest wait their turn.
MAX_CONCURRENT_HASHES = 2
_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)

T = TypeVar("T")


def _one_at_a_slot(fn: Callable[..., T], *args: str | None) -> T:
    with _hash_slots:
        return fn(*args)


@cache
def _dummy_hash() -> str:
    # verified when the email is unknown, so both answers cost the same time
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_one_at_a_slot, _hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; with `stored=None` a dummy hash is checked (False)."""
    return await asyncio.to_thread(_one_at_a_slot, _verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """The hash was made with older parameters than the current ones."""
    return _hasher.check_needs_rehash(stored)


def generate_password() -> str:
    """A random password for generated accounts (demo users, the operator CLI)."""
    return secrets.token_urlsafe(15)
