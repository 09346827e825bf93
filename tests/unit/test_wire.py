"""The one wire codec (`wacommon.broker.envelope`): compatible with what is already queued.

`tests/data/wire/*.json` are bodies recorded from the code before the codec existed (commit
6901733): the Meta gateway's hand-written orjson envelope, the ingest HTTP's and the
console sandbox's `WebhookReceived`, a `BurstReady` and a `SendReply` through the old
`build_message` (pydantic's `model_dump_json`). During a rolling deploy such bodies sit in
the queues and the new consumers must read them; the new producers' bodies must read the
same in an old consumer, which validated them with each class's `model_validate_json`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from wacommon.broker import topology
from wacommon.broker.envelope import decode, encode
from wacommon.broker.schemas import (
    BurstReady,
    Envelope,
    Provider,
    SendReply,
    WebhookReceived,
)
from wacommon.broker.shards import conversation_key, envelope_key

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDED = DATA / "wire"
TENANT = "3f9c1a52-7a8e-4c1e-9d59-4f0a8b2c6d11"


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def test_the_old_meta_gateway_envelope_decodes_as_a_webhook() -> None:
    body = recorded("meta_gateway_webhook.json")
    message = decode(body)
    assert isinstance(message, WebhookReceived)
    assert message.provider is Provider.META and message.tenant_id is None
    assert message.body == (DATA / "corpus" / "meta" / "inbound_text.json").read_text()
    assert message.occurred_at.tzinfo is not None
    assert message.payload()["object"] == "whatsapp_business_account"


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("ingest_uazapi_webhook.json", Provider.UAZAPI),
        ("ingest_lancepilot_webhook.json", Provider.LANCEPILOT),
        ("console_sandbox_webhook.json", Provider.SANDBOX),
    ],
)
def test_old_tenant_webhooks_decode_with_their_tenant(name: str, provider: Provider) -> None:
    message = decode(recorded(name))
    assert isinstance(message, WebhookReceived)
    assert message.provider is provider and message.tenant_id == TENANT
    assert isinstance(message.payload(), dict)


def test_old_pipeline_messages_decode_into_their_classes() -> None:
    burst = decode(recorded("burst_ready.json"))
    assert isinstance(burst, BurstReady)
    assert burst.message_ids == [11, 12] and burst.correlation_id == "b-1"
    assert burst.first_message_at == datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
    reply = decode(recorded("send_reply.json"))
    assert isinstance(reply, SendReply)
    assert reply.outbound_id == 42 and reply.origin == "followup"


@pytest.mark.parametrize("path", sorted(RECORDED.glob("*.json")), ids=lambda p: p.stem)
def test_what_the_old_code_wrote_is_what_the_codec_writes(path: Path) -> None:
    body = path.read_bytes()
    message = decode(body)
    assert encode(message) == body
    # and an old consumer (the class's own JSON validation) reads the new body alike
    assert type(message).model_validate_json(encode(message)) == message


def samples() -> list[Envelope]:
    at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    return [
        WebhookReceived(provider=Provider.META, body='{"object": "x", "entry": []}'),
        WebhookReceived(
            provider=Provider.UAZAPI, tenant_id=TENANT, instance_id="i-1", body='"a\\u0000b"'
        ),
        BurstReady(
            tenant_id=TENANT,
            conversation_id="c-1",
            burst_id="b-1",
            message_ids=[3, 5],
            first_message_at=at,
        ),
        SendReply(tenant_id=TENANT, conversation_id="c-1", outbound_id=7, origin="human"),
    ]


@pytest.mark.parametrize("message", samples(), ids=lambda m: m.type)
def test_encode_writes_the_json_pydantic_writes(message: Envelope) -> None:
    assert orjson.loads(encode(message)) == orjson.loads(message.model_dump_json())
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "webhook.received"}',
        b'{"type": "order.paid", "conversation_id": "c"}',
        orjson.dumps({**orjson.loads(recorded("send_reply.json")), "outbound_id": "seven"}),
    ],
    ids=["not-json", "not-an-object", "missing-fields", "unknown-type", "wrong-field-type"],
)
def test_a_body_that_is_no_message_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode(body)


def test_routing_keys_come_from_the_message_type() -> None:
    keys = {m.type: topology.routing_key(m) for m in samples()[1:]}
    assert keys == {
        "webhook.received": "webhook.uazapi.v1",
        "conversation.burst_ready": "conversation.burst_ready.v1",
        "reply.send": "reply.send.v1",
    }
    assert topology.routing_key(samples()[0]) == "webhook.meta.v1"
    # every key reaches its work queue
    for message in samples():
        key = topology.routing_key(message)
        exchange = topology.INGEST if isinstance(message, WebhookReceived) else topology.PIPELINE
        assert topology.sharded_queue_for(exchange, key) is not None


@pytest.mark.parametrize("path", sorted(RECORDED.glob("*.json")), ids=lambda p: p.stem)
def test_a_message_keeps_its_shard_whether_published_or_replayed(path: Path) -> None:
    # `publish` keys the object, a replay or redrive keys the prepared body: same shard
    message = decode(path.read_bytes())
    assert envelope_key(message) == conversation_key(encode(message))
    assert envelope_key(message).count(":") >= 1


def test_an_edge_parses_a_webhook_once_and_the_parse_stays_off_the_wire() -> None:
    raw = b'{"object": "whatsapp_business_account", "entry": [], "t": "a\\u0000b"}'
    message = WebhookReceived.of_raw(Provider.META, raw)
    parsed = message.payload()
    assert parsed["t"] == "ab"  # made storable once, at the edge
    assert message.payload() is parsed
    assert set(orjson.loads(encode(message))) == set(WebhookReceived.model_fields)
    with pytest.raises(ValueError):
        WebhookReceived.of_raw(Provider.META, b"{nope")
    # a decoded webhook parses its body on first use, then keeps it
    decoded = decode(encode(message))
    assert decoded.payload() == parsed and decoded.payload() is decoded.payload()
