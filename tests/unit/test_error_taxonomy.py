"""Which errors suspect a dependency outage (the consumer then asks the dependency)."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
from aiormq.exceptions import ChannelInvalidStateError

from wacommon.broker.publisher import PublishFailed
from wacommon.infra.errors import (
    BROKER,
    DATABASE,
    DEPENDENCIES,
    REDIS,
    PermanentError,
    RetryableError,
    suspected_dependencies,
)


def raised_from(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as got:
        return got


@pytest.mark.parametrize(
    ("error", "suspects"),
    [
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            {DATABASE},
        ),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), {DATABASE}),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), {DATABASE}),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), {DATABASE}),
        (asyncpg.InterfaceError("connection is closed"), {DATABASE}),
        (redis.exceptions.ConnectionError("Connection closed by server."), {REDIS}),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), {REDIS}),
        (redis.exceptions.BusyLoadingError("loading the dataset"), {REDIS}),
        (PublishFailed("not confirmed"), {BROKER}),
        (ChannelInvalidStateError("closed"), {BROKER}),
        (ConnectionRefusedError(111, "Connection refused"), DEPENDENCIES),
        (ConnectionResetError(104, "reset by peer"), DEPENDENCIES),
        (TimeoutError(), DEPENDENCIES),
    ],
)
def test_infrastructure_errors_suspect_their_dependency(
    error: Exception, suspects: set[str]
) -> None:
    assert suspected_dependencies(error) == suspects


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedColumnError("column does not exist"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        ValueError("bad payload"),
        KeyError("field"),
        PermanentError("unknown tenant"),
        RetryableError("provider 503"),
    ],
)
def test_data_errors_and_bugs_suspect_nothing(error: Exception) -> None:
    assert suspected_dependencies(error) == frozenset()


def test_a_wrapped_outage_is_still_an_outage() -> None:
    """Handlers wrap errors (`raise RetryableError(...) from exc`): the cause decides."""
    wrapped = raised_from(RetryableError("pacing failed"), redis.exceptions.ConnectionError())
    assert suspected_dependencies(wrapped) == {REDIS}
    during = raised_from(ValueError("while recording"), asyncpg.InterfaceError("closed"))
    assert suspected_dependencies(during) == {DATABASE}


def test_a_context_raised_away_with_from_none_is_not_an_outage() -> None:
    # a parser child's own timeout, re-raised as "unreadable file" with `from None`
    class Unreadable(Exception):
        pass

    try:
        try:
            raise TimeoutError("child took too long")
        except TimeoutError:
            raise Unreadable("timeout") from None
    except Unreadable as exc:
        hidden = exc
    assert suspected_dependencies(hidden) == frozenset()
    try:
        try:
            raise TimeoutError("link")
        except TimeoutError as exc:
            raise Unreadable("kept") from exc
    except Unreadable as exc:
        kept = exc
    assert suspected_dependencies(kept) != frozenset()
