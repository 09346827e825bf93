"""The wire path of one inbound Meta message: JSON parses counted, codec costs timed.

Parses are counted with a profile hook on C calls (`orjson.loads`, pydantic's
`validate_json`), through the real code: the gateway's `DeliveryEndpoint` publishing with
the real `AioPikaPublisher` (its channel a stand-in that confirms, so the shard key is
computed as in production), then what the ingest consumer does before its first database
write (`decode`, then the handler's `msg.payload()`). Then encode and decode are timed
against pydantic's own JSON (`model_dump_json`; the probe-then-class decode the consumer
did before the codec).

    .venv/bin/python bench/wire.py --runs 20000 --requests 5000
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402

from pamqp.commands import Basic  # noqa: E402

from bench.common import APP_SECRET, ROOT  # noqa: E402

CORPUS_TEXT = ROOT / "tests" / "data" / "corpus" / "meta" / "inbound_text.json"

PARSERS = {"loads", "validate_json", "model_validate_json"}


class ParseCounter:
    """Counts calls of C-level JSON parsers while installed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __enter__(self) -> ParseCounter:
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        name = getattr(arg, "__name__", "")
        if event == "c_call" and name in PARSERS:
            owner = getattr(arg, "__module__", None) or type(arg.__self__).__name__
            self.calls[f"{owner}.{name}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _ConfirmingExchange:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def publish(self, message: Any, routing_key: str, mandatory: bool, timeout: float) -> Any:
        self.bodies.append(message.body)
        return Basic.Ack(delivery_tag=1)


class _Channel:
    is_closed = False

    def __init__(self, exchange: _ConfirmingExchange) -> None:
        self._exchange = exchange

    async def get_exchange(self, name: str, ensure: bool = False) -> _ConfirmingExchange:
        return self._exchange


class _Connection:
    def __init__(self, exchange: _ConfirmingExchange) -> None:
        self._exchange = exchange

    async def channel(self, **kwargs: Any) -> _Channel:
        return _Channel(self._exchange)


async def gateway_body(raw: bytes, requests: int) -> tuple[bytes, ParseCounter, float]:
    """The AMQP body the gateway publishes for `raw`, the parses it took, and its CPU time
    per delivery (the broker a stand-in that confirms at once)."""
    from meta_gateway.webhook import DeliveryEndpoint
    from wacommon.broker.publisher import AioPikaPublisher
    from wacommon.infra.settings import Settings

    exchange = _ConfirmingExchange()
    settings = Settings(service_name="bench-wire", broker_shards=8)
    publisher = AioPikaPublisher(_Connection(exchange), settings)  # type: ignore[arg-type]
    endpoint = DeliveryEndpoint(APP_SECRET, publisher)
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    answers: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        answers.append(message)

    scope = {"type": "http", "headers": [(b"x-hub-signature-256", signature.encode())]}
    with ParseCounter() as counter:
        await endpoint(scope, receive, send)
    assert answers[0]["status"] == 200, answers
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(requests):
            await endpoint(scope, receive, send)
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return exchange.bodies[0], counter, best


def consumer_parses(body: bytes) -> ParseCounter:
    """What the ingest consumer parses before its first write: the envelope, the payload."""
    from wacommon.broker.envelope import decode
    from wacommon.broker.schemas import WebhookReceived

    with ParseCounter() as counter:
        message = decode(body)
        assert isinstance(message, WebhookReceived)
        message.payload()
    return counter


def per_call_us(fn: Callable[[], object], runs: int) -> float:
    return min(timeit.repeat(fn, number=runs, repeat=3)) / runs * 1e6


def timings(body: bytes, runs: int) -> None:
    from wacommon.broker.envelope import decode, encode
    from wacommon.broker.schemas import BurstReady, Envelope, SendReply, WebhookReceived

    classes: dict[str, type[Envelope]] = {
        "webhook.received": WebhookReceived,
        "conversation.burst_ready": BurstReady,
        "reply.send": SendReply,
    }

    def probe_then_class() -> Envelope:
        # the consumer's decode before the codec: parse for `type`, then parse again
        return classes[Envelope.model_validate_json(body).type].model_validate_json(body)

    message = decode(body)
    print(f"envelope {len(body)} B (a {CORPUS_TEXT.stat().st_size} B Meta body inside)")
    print(
        f"encode   codec {per_call_us(lambda: encode(message), runs):6.2f} us"
        f"   model_dump_json {per_call_us(lambda: message.model_dump_json().encode(), runs):6.2f} us"
    )
    print(
        f"decode   codec {per_call_us(lambda: decode(body), runs):6.2f} us"
        f"   probe + class   {per_call_us(probe_then_class, runs):6.2f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20000, help="calls per codec timing")
    parser.add_argument("--requests", type=int, default=5000, help="gateway requests timed")
    args = parser.parse_args()
    raw = CORPUS_TEXT.read_bytes()
    body, at_gateway, request_us = asyncio.run(gateway_body(raw, args.requests))
    at_consumer = consumer_parses(body)
    print(f"gateway  parses {at_gateway.total}  {dict(at_gateway.calls)}")
    print(f"consumer parses {at_consumer.total}  {dict(at_consumer.calls)}")
    print(
        "JSON parses of an inbound Meta message before its first database write:"
        f" {at_gateway.total + at_consumer.total}"
    )
    print(f"gateway  {request_us:6.1f} us CPU per delivery (verify, check, envelope, publish)")
    timings(body, args.runs)


if __name__ == "__main__":
    main()
