"""Shard keys, shard assignment to replicas, and the supervisor's replica layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wacommon.broker.schemas import BurstReady, Provider, SendReply, WebhookReceived, utcnow
from wacommon.broker.shards import (
    assigned_shards,
    conversation_key,
    shard_of,
    webhook_contact,
)
from walocal.supervisor import Child, build_children, parse_replicas

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def test_every_shard_has_exactly_one_owner_for_any_replica_count() -> None:
    for shards in (1, 7, 8, 16):
        for count in range(1, 6):
            owned = [assigned_shards(i, count, shards) for i in range(count)]
            flat = sorted(s for group in owned for s in group)
            assert flat == list(range(shards))
            # balanced: no replica owns more than one shard more than another
            sizes = [len(g) for g in owned]
            assert max(sizes) - min(sizes) <= 1


def test_a_conversation_has_one_key_in_every_pipeline_message() -> None:
    burst = BurstReady(
        tenant_id="t1",
        conversation_id="c9",
        burst_id="b",
        message_ids=[1],
        first_message_at=utcnow(),
    )
    send = SendReply(tenant_id="t1", conversation_id="c9", outbound_id=3)
    other = SendReply(tenant_id="t2", conversation_id="c9", outbound_id=3)
    key = conversation_key(burst.model_dump_json().encode())
    assert key == "t1:c9" == conversation_key(send.model_dump_json().encode())
    assert conversation_key(other.model_dump_json().encode()) != key
    assert shard_of(key, 8) == shard_of("t1:c9", 8)  # stable across processes (crc32)


def _meta(sender: str) -> str:
    body = json.loads((CORPUS / "meta" / "inbound_text.json").read_text())
    body["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = sender
    return json.dumps(body)


def test_webhooks_of_one_customer_share_a_key_and_others_differ() -> None:
    a1, a2, b = _meta("5511900000001"), _meta("5511900000001"), _meta("5511900000002")
    assert webhook_contact(a1) == webhook_contact(a2) != webhook_contact(b)
    assert webhook_contact(a1).endswith(":5511900000001")

    def envelope(raw: str) -> bytes:
        msg = WebhookReceived(provider=Provider.META, tenant_id="t", body=raw)
        return msg.model_dump_json().encode()

    assert conversation_key(envelope(a1)) == conversation_key(envelope(a2))
    assert conversation_key(envelope(a1)) != conversation_key(envelope(b))


@pytest.mark.parametrize("raw", ["", "not json", "[]", '{"entry": 5}'])
def test_an_unreadable_webhook_falls_back_to_the_tenant(raw: str) -> None:
    assert webhook_contact(raw) == ""
    msg = WebhookReceived(provider=Provider.META, tenant_id="t", body=raw)
    assert conversation_key(msg.model_dump_json().encode()) == "t::"


def test_uazapi_and_lancepilot_webhooks_are_keyed_by_the_customer() -> None:
    uaz = {"message": {"chatid": "5511988887777@s.whatsapp.net"}, "chat": {}}
    assert webhook_contact(json.dumps(uaz)) == "5511988887777@s.whatsapp.net"
    incoming = {
        "event": "message.incoming",
        "data": {"attributes": {"from": "5511911112222", "to": "5511933334444"}},
    }
    outgoing = {
        "event": "message.outgoing",
        "data": {"attributes": {"from": "5511933334444", "to": "5511911112222"}},
    }
    assert webhook_contact(json.dumps(incoming)) == webhook_contact(json.dumps(outgoing))


def test_replicas_get_their_own_port_prefix_and_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_WORKER_PORT", raising=False)
    children = build_children(["rag-worker", "sender"], [], parse_replicas("rag-worker=3"))
    names = [c.name for c in children]
    assert names == ["rag-worker.0", "rag-worker.1", "rag-worker.2", "sender"]
    env: dict[str, dict[str, str]] = {c.name: c.env for c in children if isinstance(c, Child)}
    assert [env[f"rag-worker.{i}"]["HTTP_PORT"] for i in range(3)] == ["8002", "8102", "8202"]
    assert env["rag-worker.2"]["REPLICA_INDEX"] == "2"
    assert env["rag-worker.2"]["REPLICA_COUNT"] == "3"
    assert "REPLICA_INDEX" not in env["sender"]


@pytest.mark.parametrize("text", ["rag-worker", "rag-worker=0", "nope=2", "sender=x"])
def test_bad_replica_counts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_replicas(text)


def test_replicas_accept_commas_or_spaces() -> None:
    assert parse_replicas("rag-worker=3 sender=2") == {"rag-worker": 3, "sender": 2}
    assert parse_replicas("rag-worker=3,lancepilot-ingest=2") == {
        "rag-worker": 3,
        "lancepilot-ingest": 2,
    }
    assert parse_replicas("") == {}


def test_only_work_queue_messages_are_routed_to_a_shard() -> None:
    from wacommon.broker import topology
    from wacommon.broker.shards import SHARDS, route, shard_queue
    from wacommon.infra.settings import Settings

    settings = Settings(_env_file=None, broker_prefix="p.", broker_shards=4)  # type: ignore[call-arg]
    send = SendReply(tenant_id="t1", conversation_id="c9", outbound_id=3)
    body = send.model_dump_json().encode()
    shard = shard_of("t1:c9", 4)
    assert route(settings, topology.PIPELINE, "reply.send.v1", body) == (
        SHARDS,
        shard_queue("p.sender.replies", shard),
    )
    hook = WebhookReceived(provider=Provider.META, tenant_id="t", body=_meta("5511900000001"))
    exchange, key = route(
        settings, topology.INGEST, "webhook.meta.v1", hook.model_dump_json().encode()
    ) or ("", "")
    assert exchange == SHARDS and key.startswith("p.ingest.webhooks.shard.")
    # a replay or DLQ redrive (the requeue exchange, a work queue's name) goes to the shard
    # too, still through the requeue exchange (never into ingest.log again)
    assert route(settings, topology.REQUEUE, "p.sender.replies", body) == (
        topology.REQUEUE,
        shard_queue("p.sender.replies", shard),
    )
    # a shard's own requeue (a parked delivery), notifications and unknown keys are left alone
    assert route(settings, topology.REQUEUE, shard_queue("p.sender.replies", shard), body) is None
    assert route(settings, topology.NOTIFY, "t1.message.created", body) is None
    assert route(settings, topology.PIPELINE, "something.else.v1", body) is None
    off = settings.model_copy(update={"broker_shards": 0})
    assert route(off, topology.PIPELINE, "reply.send.v1", body) is None
