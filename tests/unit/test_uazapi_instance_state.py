"""Reading Uazapi's instance answers (connect's and status's shapes) and the phone field."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from console.channels.common import phone_digits
from console.channels.uazapi_client import parse_state, qr_image

PNG_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="


def test_status_answer_while_connecting_carries_the_qr_code() -> None:
    state = parse_state(
        {
            "instance": {"status": "connecting", "qrcode": PNG_URL, "paircode": ""},
            "status": {"connected": False, "loggedIn": False, "jid": None},
        }
    )
    assert (state.status, state.qrcode, state.paircode, state.number) == (
        "connecting",
        PNG_URL,
        None,
        None,
    )


def test_connect_answer_with_a_pairing_code() -> None:
    state = parse_state(
        {
            "connected": False,
            "loggedIn": False,
            "jid": None,
            "instance": {"status": "connecting", "paircode": "7K2M-4X9P", "qrcode": ""},
        }
    )
    assert state.paircode == "7K2M-4X9P" and state.qrcode is None and not state.connected


def test_connected_takes_the_number_from_the_jid_and_drops_stale_codes() -> None:
    state = parse_state(
        {
            "instance": {"status": "connected", "qrcode": PNG_URL, "owner": "dono@example.com"},
            "status": {"connected": True, "loggedIn": True, "jid": {"user": "5511999999999"}},
        }
    )
    assert state.connected and state.number == "5511999999999" and state.qrcode is None
    # `owner` is an e-mail on some servers: never taken for the number
    without_jid = parse_state(
        {"instance": {"status": "connected", "owner": "dono@example.com"}, "status": {}}
    )
    assert without_jid.connected and without_jid.number is None


def test_unknown_status_falls_back_to_the_flags() -> None:
    assert parse_state({"instance": {"status": "open"}, "status": {"connected": True}}).status == (
        "disconnected"  # connected but not logged in: not usable yet
    )
    flags = {"connected": True, "loggedIn": True}
    assert parse_state({"instance": {}, "status": flags}).status == "connected"
    assert parse_state("not json object").status == "disconnected"


def test_qr_image_accepts_data_urls_and_bare_png_base64_only() -> None:
    assert qr_image(PNG_URL) == PNG_URL
    assert qr_image("iVBORw0KGgo=") == "data:image/png;base64,iVBORw0KGgo="
    # the raw pairing string cannot be drawn without a QR encoder
    assert qr_image("2@gR8m1W6qAbc,xyz==") is None
    assert qr_image("") is None and qr_image(None) is None


@pytest.mark.parametrize(
    ("typed", "digits"),
    [("+55 (11) 99999-8888", "5511999998888"), ("5511999998888", "5511999998888"), ("", None)],
)
def test_phone_digits_keeps_the_digits(typed: str, digits: str | None) -> None:
    assert phone_digits(typed, "phone") == digits


@pytest.mark.parametrize(
    "typed", ["abc", "123", "55119999988889999", "٥٥١١٩٩٩٩٩٨٨٨٨", "55#11999998888"]
)
def test_phone_digits_refuses_other_input_on_the_field(typed: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        phone_digits(typed, "phone")
    assert caught.value.errors()[0]["loc"] == ("body", "phone")
