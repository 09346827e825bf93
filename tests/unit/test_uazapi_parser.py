"""Every real Uazapi webhook in the corpus parses to a normalised message or an ignored event."""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wacommon.broker.schemas import MessageKind, Provider, SenderRole
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.uazapi.inbound import (
    check_uazapi_envelope,
    parse_uazapi_webhook,
    token_matches,
)

CORPUS = Path(__file__).parents[1] / "data" / "corpus" / "uazapi"
CUSTOMER_PHONE = "5511966665555"
CUSTOMER_LID = "100000000000001@lid"


def load(name: str) -> dict[str, Any]:
    return check_uazapi_envelope(json.loads((CORPUS / f"{name}.json").read_text()))


def one(name: str) -> Any:
    parsed = parse_uazapi_webhook(load(name))
    assert parsed.ignored is None
    assert len(parsed.messages) == 1
    return parsed.messages[0]


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


# name -> (kind, role, provider message id, messageTimestamp in ms)
EXPECTED_MESSAGES = {
    "inbound_text": (
        MessageKind.TEXT,
        SenderRole.CUSTOMER,
        "AC98212CD4909DE6799E78D93A824A3F",
        1770146178000,
    ),
    "inbound_text_edited": (
        MessageKind.TEXT,
        SenderRole.CUSTOMER,
        "ACF9A02835425A416EFC8AEDFCF1DD48",
        1770146201000,
    ),
    "inbound_emoji": (
        MessageKind.TEXT,
        SenderRole.CUSTOMER,
        "ACCF8CA489401C65B43C7C09978CF6CF",
        1770146560000,
    ),
    "inbound_image": (
        MessageKind.IMAGE,
        SenderRole.CUSTOMER,
        "AC3D4FE37D20ED8957FACCDAD9368A4A",
        1770146426000,
    ),
    "inbound_audio_ptt": (
        MessageKind.AUDIO,
        SenderRole.CUSTOMER,
        "AC0618B4C57918C5D25431E1AF47B2E7",
        1770146608000,
    ),
    "inbound_video": (
        MessageKind.VIDEO,
        SenderRole.CUSTOMER,
        "ACAC14245367A932CD6EF160D898A1C2",
        1770146130000,
    ),
    "inbound_document": (
        MessageKind.DOCUMENT,
        SenderRole.CUSTOMER,
        "AC32D9B3800862E9428A9B580162D209",
        1770146525000,
    ),
    "inbound_sticker": (
        MessageKind.STICKER,
        SenderRole.CUSTOMER,
        "AC7ABC519EB9D1ED9D0DEECFA063B074",
        1770146218000,
    ),
    "inbound_location": (
        MessageKind.LOCATION,
        SenderRole.CUSTOMER,
        "ACB8C2F16A8BC25A41D600B47924061A",
        1770146408000,
    ),
    "inbound_contact_vcard": (
        MessageKind.CONTACTS,
        SenderRole.CUSTOMER,
        "ACE22A6BF48566AFCFF27BFC5B42B85C",
        1770146588000,
    ),
    "inbound_reaction": (
        MessageKind.REACTION,
        SenderRole.CUSTOMER,
        "ACA560BBE49219D22145948EA04BADDE",
        1770146243000,
    ),
    "inbound_list_response": (
        MessageKind.INTERACTIVE,
        SenderRole.CUSTOMER,
        "AC733E28316A85E2435B1A9D4B6C39F7",
        1770147012000,
    ),
    "inbound_poll_vote": (
        MessageKind.POLL,
        SenderRole.CUSTOMER,
        "AC1A4B00110B41F932AE961FB23E1353",
        1770146326000,
    ),
    "group_inbound_text": (
        MessageKind.TEXT,
        SenderRole.CUSTOMER,
        "AC4D6F7672164E5C348BA0847D4F55B5",
        1770147294000,
    ),
    "fromme_text_typed_on_phone": (
        MessageKind.TEXT,
        SenderRole.HUMAN,
        "AC412A8CB9DE748E112FCD3BD996519B",
        1770146755000,
    ),
    "fromme_text_sent": (
        MessageKind.TEXT,
        SenderRole.HUMAN,
        "ACF3BAA609D967CF59AF1F4A8CE59202",
        1770146679000,
    ),
}
EXPECTED_IGNORED = {
    "connection_connected": "connection",
    "connection_disconnected": "connection",
    "groups_leave_other": "groups_leave",
}


def test_the_expectations_cover_every_corpus_file() -> None:
    names = {p.stem for p in CORPUS.glob("*.json")}
    assert names == set(EXPECTED_MESSAGES) | set(EXPECTED_IGNORED)


@pytest.mark.parametrize("name", sorted(EXPECTED_MESSAGES))
def test_message_files_parse_to_the_expected_message(name: str) -> None:
    kind, role, message_id, timestamp_ms = EXPECTED_MESSAGES[name]
    parsed = parse_uazapi_webhook(load(name))
    assert parsed.event_type == "messages"
    assert parsed.token == "xxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    assert parsed.owner == "5511988887777"
    msg = parsed.messages[0]
    assert (msg.kind, msg.sender, msg.provider_message_id) == (kind, role, message_id)
    assert msg.sent_at == ms(timestamp_ms)
    assert msg.own_echo is False
    inbound = msg.to_inbound("tenant-1", "instance-1")
    assert inbound.provider is Provider.UAZAPI
    assert (inbound.tenant_id, inbound.instance_id) == ("tenant-1", "instance-1")
    assert inbound.raw == load(name)


@pytest.mark.parametrize("name", sorted(EXPECTED_IGNORED))
def test_non_message_files_are_ignorable_events(name: str) -> None:
    parsed = parse_uazapi_webhook(load(name))
    assert parsed.messages == ()
    assert parsed.ignored is not None
    assert parsed.ignored.name == EXPECTED_IGNORED[name]


def test_timestamps_are_milliseconds_not_seconds() -> None:
    assert one("inbound_text").sent_at == datetime(2026, 2, 3, 19, 16, 18, tzinfo=UTC)


def test_customer_contact_is_keyed_on_sender_pn_with_lid_kept() -> None:
    contact = one("inbound_text").contact
    assert contact.key == contact.phone == CUSTOMER_PHONE
    assert contact.name == "Cliente Teste"
    assert contact.provider_ids == {
        "jid": f"{CUSTOMER_PHONE}@s.whatsapp.net",
        "lid": CUSTOMER_LID,
    }


def test_lid_only_sender_falls_back_to_the_lid_as_key() -> None:
    body = load("inbound_text")
    for key in ("sender_pn", "chatid"):
        body["message"][key] = ""
    body["chat"]["wa_chatid"] = ""
    body["chat"]["phone"] = ""
    contact = parse_uazapi_webhook(body).messages[0].contact
    assert contact.phone is None
    assert contact.key == CUSTOMER_LID


def test_human_on_the_phone_is_a_human_message_about_the_chat_contact() -> None:
    msg = one("fromme_text_sent")
    assert msg.sender is SenderRole.HUMAN and not msg.own_echo
    # sender_pn is the business itself; the customer is the chat
    assert msg.contact.key == CUSTOMER_PHONE
    assert msg.attributes["agent_name"] == "Dono Teste"


def test_our_own_api_send_echo_is_a_bot_message_marked_own_echo() -> None:
    body = load("fromme_text_sent")
    body["message"]["wasSentByApi"] = True
    body["message"]["track_source"] = "wa-assistant"
    msg = parse_uazapi_webhook(body).messages[0]
    assert msg.sender is SenderRole.BOT
    assert msg.own_echo is True
    assert msg.attributes["track_source"] == "wa-assistant"


def test_group_message_is_flagged_and_keyed_on_the_group() -> None:
    msg = one("group_inbound_text")
    assert msg.is_group is True
    assert msg.contact.key == "120363000000000002@g.us"
    assert msg.contact.name == "Full Group Teste"
    assert msg.attributes["group"]["participant"] == CUSTOMER_PHONE


def test_edit_names_the_original_message() -> None:
    msg = one("inbound_text_edited")
    assert msg.text == "Oi2"
    assert msg.attributes["edit_of"] == "AC98212CD4909DE6799E78D93A824A3F"


def test_reaction_targets_the_reacted_message() -> None:
    msg = one("inbound_reaction")
    assert msg.text == "❤️"
    assert msg.reply_to == msg.attributes["reaction_to"] == "AC24A7E68360C7E9A54F64AB85FAECE2"
    assert "reaction_removed" not in msg.attributes


def test_list_reply_carries_the_row_id_and_title() -> None:
    msg = one("inbound_list_response")
    assert msg.text == "Fones"
    assert msg.attributes["list_reply"] == {
        "id": "fones",
        "title": "Fones",
        "description": "Bluetooth e com fio",
    }
    assert msg.reply_to == "3EB00EB51811DEDC4195E4"


def test_poll_vote_carries_the_choice_and_the_poll() -> None:
    msg = one("inbound_poll_vote")
    assert msg.text == "Sol"
    assert msg.attributes["poll_vote"] == {
        "poll_id": "AC80C0232690BC1ADD4D087D31ED59B3",
        "selected": "Sol",
    }


@pytest.mark.parametrize(
    ("name", "mime", "voice", "size"),
    [
        ("inbound_audio_ptt", "audio/ogg; codecs=opus", True, 4920),
        ("inbound_image", "image/jpeg", False, 162894),
        ("inbound_video", "video/mp4", False, 1183945),
        ("inbound_document", "application/pdf", False, 5606601),
        ("inbound_sticker", "image/webp", False, 278228),
    ],
)
def test_media_is_referenced_by_message_id_for_download(
    name: str, mime: str, voice: bool, size: int
) -> None:
    msg = one(name)
    assert msg.media is not None
    assert msg.media.media_id == msg.provider_message_id
    assert (msg.media.mime_type, msg.media.voice, msg.media.size_bytes) == (mime, voice, size)
    assert msg.media.url is not None and ".enc" in msg.media.url


def test_document_keeps_its_filename_and_audio_its_duration() -> None:
    filename = one("inbound_document").media.filename
    assert unicodedata.normalize("NFC", filename) == "Catálogo Exemplo PDF.pdf"
    assert one("inbound_audio_ptt").media.seconds == 2.0


def test_location_and_vcard_details_are_attributes() -> None:
    assert one("inbound_location").attributes["location"]["latitude"] == -23.55052
    vcard = one("inbound_contact_vcard")
    assert "BEGIN:VCARD" in vcard.attributes["vcard"]
    assert vcard.text.startswith("Contato Exemplo")


def test_connection_event_reports_status_and_reason() -> None:
    ignored = parse_uazapi_webhook(load("connection_disconnected")).ignored
    assert ignored is not None
    assert ignored.detail["status"] == "disconnected"
    assert ignored.detail["reason"].startswith("401")


def test_unknown_message_shape_is_unsupported_with_raw_kept() -> None:
    body = {
        "EventType": "messages",
        "token": "t",
        "message": {
            "messageid": "X1",
            "messageType": "FutureMessage",
            "fromMe": False,
            "messageTimestamp": 1770146178000,
            "sender_pn": "5511977776666@s.whatsapp.net",
        },
    }
    msg = parse_uazapi_webhook(check_uazapi_envelope(body)).messages[0]
    assert msg.kind is MessageKind.UNSUPPORTED
    assert msg.provider_message_id == "X1"
    assert msg.contact.key == "5511977776666"
    assert msg.raw == body


def test_message_without_id_or_timestamp_gets_a_stable_id() -> None:
    body = {"EventType": "messages", "message": {"text": "oi", "type": "text"}}
    first = parse_uazapi_webhook(body).messages[0]
    second = parse_uazapi_webhook(json.loads(json.dumps(body))).messages[0]
    assert first.provider_message_id == second.provider_message_id
    assert first.provider_message_id.startswith("uaz-")
    assert first.attributes["timestamp_missing"] is True


@pytest.mark.parametrize("event", ["presence", "history", "messages_update", "chats"])
def test_other_event_types_are_ignorable(event: str) -> None:
    parsed = parse_uazapi_webhook(check_uazapi_envelope({"EventType": event, "token": "t"}))
    assert parsed.messages == ()
    assert parsed.ignored is not None and parsed.ignored.name == event


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "body is not a JSON object"),
        ({"event": "messages", "instance": "x", "data": {}}, "missing EventType"),
        ({"EventType": "messages", "token": 5, "message": {}}, "token is not a string"),
        ({"EventType": "messages", "message": "oi"}, "messages event without a message object"),
    ],
)
def test_envelope_check_rejects_unknown_envelopes(body: object, reason: str) -> None:
    with pytest.raises(InvalidWebhookPayload) as exc:
        check_uazapi_envelope(body)
    assert exc.value.reason == reason


def test_token_check_is_exact() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches(None, "abc")
    assert not token_matches("", "")


def test_corpus_dir_fixture_points_at_the_same_files(corpus_dir: str) -> None:
    assert Path(os.path.join(corpus_dir, "uazapi")) == CORPUS
