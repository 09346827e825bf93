"""A consumer's callback that hands each message to the handler of its type.

A service's `handlers.py` names one function per message type in a `HANDLERS`
mapping; `dispatcher(HANDLERS, deps)` is what its `main` gives the consumer. A type
without a handler is dead-lettered, as a handler refusing it would be.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Protocol, TypeVar

from wacommon.broker.consumer import Delivery, Handler
from wacommon.broker.schemas import Envelope
from wacommon.infra.errors import PermanentError

D = TypeVar("D")
D_contra = TypeVar("D_contra", contravariant=True)


class MessageHandler(Protocol[D_contra]):
    """One message type's handler: the message, its delivery, the service's dependencies."""

    def __call__(self, msg: Envelope, delivery: Delivery, *, deps: D_contra) -> Awaitable[None]:
        """Handle one message; raise `RetryableError` or `PermanentError` to say why not."""
        ...


def dispatcher(handlers: Mapping[type[Envelope], MessageHandler[D]], deps: D) -> Handler:
    """The consumer callback: the handler of the message's type, bound to `deps`."""

    async def dispatch(msg: Envelope, delivery: Delivery) -> None:
        handler = handlers.get(type(msg))
        if handler is None:
            raise PermanentError(f"unexpected message {msg.type}")
        await handler(msg, delivery, deps=deps)

    return dispatch
