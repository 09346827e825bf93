"""LancePilot webhooks (inferred shapes) parse tolerantly into normalised messages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wacommon.broker.schemas import MessageKind, Provider, SenderRole
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.lancepilot.inbound import (
    DERIVED_ID_WINDOW_S,
    check_lancepilot_envelope,
    parse_lancepilot_webhook,
)

CORPUS = Path(__file__).parents[1] / "data" / "corpus" / "lancepilot"
CONTACT = "5511988887777"
BUSINESS = "5511900000001"
RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    return check_lancepilot_envelope(json.loads((CORPUS / f"{name}.json").read_text()))


def one(body: dict[str, Any], received_at: datetime = RECEIVED) -> Any:
    parsed = parse_lancepilot_webhook(body, received_at=received_at)
    assert parsed.ignored is None and len(parsed.messages) == 1
    return parsed.messages[0]


# webhook files -> (kind, role, own echo, text)
EXPECTED = {
    "INFERRED_webhook_message_incoming_text": (
        MessageKind.TEXT,
        SenderRole.CUSTOMER,
        False,
        "Oi, quero saber o preço",
    ),
    "INFERRED_webhook_message_incoming_audio": (MessageKind.AUDIO, SenderRole.CUSTOMER, False, ""),
    "INFERRED_webhook_message_outgoing_app": (
        MessageKind.TEXT,
        SenderRole.HUMAN,
        False,
        "Olá! Aqui é o atendente humano.",
    ),
}


def test_the_expectations_cover_every_webhook_file() -> None:
    webhooks = {p.stem for p in CORPUS.glob("*.json") if not p.stem.startswith("api_")}
    assert webhooks == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_webhooks_parse_to_the_expected_message(name: str) -> None:
    kind, role, own_echo, text = EXPECTED[name]
    parsed = parse_lancepilot_webhook(load(name), received_at=RECEIVED)
    assert parsed.business_number == BUSINESS
    msg = parsed.messages[0]
    assert (msg.kind, msg.sender, msg.own_echo, msg.text) == (kind, role, own_echo, text)
    assert msg.contact.key == msg.contact.phone == CONTACT
    # no timestamp in the payload: the time we received it
    assert msg.sent_at == RECEIVED and msg.attributes["timestamp_missing"] is True
    assert msg.provider_message_id.startswith("lp-")
    inbound = msg.to_inbound("tenant-1", "inst-1")
    assert inbound.provider is Provider.LANCEPILOT
    assert inbound.raw == load(name)


def test_audio_url_is_a_plain_media_url() -> None:
    msg = one(load("INFERRED_webhook_message_incoming_audio"))
    assert msg.media is not None
    assert msg.media.url == "https://example.invalid/media/audio.ogg"


def test_outgoing_from_the_api_is_our_own_echo() -> None:
    body = load("INFERRED_webhook_message_outgoing_app")
    body["data"]["attributes"]["source"] = "api"
    msg = one(body)
    assert msg.sender is SenderRole.BOT and msg.own_echo is True


def test_outgoing_without_source_is_treated_as_our_echo() -> None:
    body = load("INFERRED_webhook_message_outgoing_app")
    del body["data"]["attributes"]["source"]
    msg = one(body)
    assert msg.sender is SenderRole.BOT and msg.own_echo is True


def test_campaign_outgoing_is_a_campaign_message_with_its_context() -> None:
    body = load("INFERRED_webhook_message_outgoing_app")
    body["data"]["attributes"]["source"] = "api"
    body["data"]["attributes"]["campaign"] = {"id": 77, "name": "Black Friday"}
    msg = one(body)
    assert msg.sender is SenderRole.CAMPAIGN and msg.own_echo is False
    assert msg.attributes["campaign"] == {"id": "77", "name": "Black Friday"}


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d["attributes"].update(campaign_id="c-9", campaign_name="Natal"),
        lambda d: d.setdefault("relationships", {}).update(
            campaign={"data": {"id": "c-9", "attributes": {"name": "Natal"}}}
        ),
        lambda d: d["attributes"]["message"].update(campaign={"id": "c-9", "name": "Natal"}),
    ],
)
def test_campaign_reply_from_the_customer_carries_the_campaign(where: Any) -> None:
    body = load("INFERRED_webhook_message_incoming_text")
    where(body["data"])
    msg = one(body)
    assert msg.sender is SenderRole.CUSTOMER
    assert msg.attributes["campaign"] == {"id": "c-9", "name": "Natal"}


def test_flat_body_text_and_extra_fields_are_tolerated() -> None:
    body = {
        "event": "message.incoming",
        "unexpected": {"x": 1},
        "data": {
            "id": "msg-123",
            "attributes": {
                "from": "+55 (11) 98888-7777",
                "to": BUSINESS,
                "extra": [1, 2],
                "created_at": "2026-03-01T11:59:58Z",
                "message": {"type": "text", "body": "Tem horário amanhã?"},
            },
        },
    }
    msg = one(body)
    assert msg.text == "Tem horário amanhã?"
    assert msg.contact.key == CONTACT
    assert msg.provider_message_id == "msg-123"
    assert msg.sent_at == datetime(2026, 3, 1, 11, 59, 58, tzinfo=UTC)
    assert "timestamp_missing" not in msg.attributes


def test_epoch_timestamps_in_seconds_or_milliseconds() -> None:
    body = load("INFERRED_webhook_message_incoming_text")
    body["data"]["attributes"]["timestamp"] = 1772366398
    assert one(body).sent_at == datetime.fromtimestamp(1772366398, UTC)
    body["data"]["attributes"]["timestamp"] = 1772366398000
    assert one(body).sent_at == datetime.fromtimestamp(1772366398, UTC)


def test_missing_everything_still_gives_a_message() -> None:
    msg = one({"event": "message.incoming", "data": {}})
    assert msg.kind is MessageKind.TEXT
    assert msg.text == ""
    assert msg.contact.key == "unknown"


def test_unknown_message_type_is_unsupported_with_raw_kept() -> None:
    body = load("INFERRED_webhook_message_incoming_text")
    body["data"]["attributes"]["message"] = {"type": "hologram", "hologram": {"value": "x"}}
    msg = one(body)
    assert msg.kind is MessageKind.UNSUPPORTED
    assert msg.raw == body


def test_duplicate_delivery_gets_the_same_derived_id() -> None:
    body = load("INFERRED_webhook_message_incoming_text")
    first = one(body)
    again = one(copy.deepcopy(body), RECEIVED + timedelta(seconds=1))
    assert first.provider_message_id == again.provider_message_id


def test_same_text_much_later_is_a_new_message_when_the_body_has_no_id() -> None:
    body = load("INFERRED_webhook_message_incoming_text")
    later = RECEIVED + timedelta(seconds=DERIVED_ID_WINDOW_S * 3)
    assert one(body).provider_message_id != one(body, later).provider_message_id


@pytest.mark.parametrize("event", ["contact.created", "message.status", "campaign.finished"])
def test_unknown_events_are_ignorable(event: str) -> None:
    parsed = parse_lancepilot_webhook(check_lancepilot_envelope({"event": event, "data": {}}))
    assert parsed.messages == ()
    assert parsed.ignored is not None
    assert parsed.ignored.name == event.replace(".", "_")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("oi", "body is not a JSON object"),
        ({"data": {}}, "missing event"),
        ({"event": "message.incoming", "data": []}, "message event without a data object"),
    ],
)
def test_envelope_check_rejects_unknown_envelopes(body: object, reason: str) -> None:
    with pytest.raises(InvalidWebhookPayload) as exc:
        check_lancepilot_envelope(body)
    assert exc.value.reason == reason
