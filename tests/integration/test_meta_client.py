"""MetaGraphClient and Meta media download against the fake Graph API over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.server import ServerThread, free_port, serve_in_thread
from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.meta.media import (
    MediaDownloadFailed,
    MediaTemporarilyUnavailable,
    MediaTooLarge,
    download_meta_media,
)
from wacommon.providers.meta.outbound import MetaGraphClient
from wacommon.providers.meta.outbound_payloads import (
    body_component,
    header_media_component,
    list_message,
    reply_buttons,
)
from wacommon.providers.outbound import OutboundMessage, ProviderSendError, SendResult
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

SEND = Path(__file__).resolve().parent.parent / "data" / "corpus" / "meta" / "send"
VERSION = "v23.0"
PHONE = "106540352242922"
TOKEN = "EAAGfaketoken0123456789abcdefghij"
CREDS = ProviderCredentials(
    "meta",
    "tenant-1",
    "inst-1",
    {"phone_id": PHONE, "access_token": TOKEN, "waba_id": "102290129340398"},
)
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, ServerThread]]:
    state = GraphState(tokens={PHONE: TOKEN}, timeout_seconds=1.0)
    with serve_in_thread(make_graph_app(state)) as server:
        yield state, server


@pytest.fixture()
def state(graph: tuple[GraphState, ServerThread]) -> GraphState:
    graph[0].reset()
    graph[0].omit_sizes = False
    return graph[0]


@pytest.fixture()
def url(graph: tuple[GraphState, ServerThread]) -> str:
    return graph[1].url


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture()
def meta(http: httpx.AsyncClient, url: str) -> MetaGraphClient:
    return MetaGraphClient(http, base_url=url, version=VERSION)


def corpus(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SEND / f"{name}.request.json").read_text())
    # recipient_type is optional on the wire; the client always sends "individual"
    if "to" in data:
        data.setdefault("recipient_type", "individual")
    return data


Call = Callable[[MetaGraphClient], Awaitable[Any]]
NAMED = {"number_of_guests": "4", "day": "Saturday", "date": "August 30th, 2025", "time": "7:30 pm"}
BUTTONS = reply_buttons(
    "Hi Pablo! Your gardening workshop is scheduled for 9am tomorrow. Use the buttons if you "
    "need to reschedule. Thank you!",
    [("change-button", "Change"), ("cancel-button", "Cancel")],
    header={"type": "image", "image": {"id": "2762702990552401"}},
    footer="Lucky Shrub: Your gateway to succulents!TM",
)
LIST = list_message(
    "Which shipping option do you prefer?",
    "Shipping Options",
    [
        {
            "title": "I want it ASAP!",
            "rows": [
                {
                    "id": "priority_express",
                    "title": "Priority Mail Express",
                    "description": "Next Day to 2 Days",
                },
                {"id": "priority_mail", "title": "Priority Mail", "description": "13 Days"},
            ],
        },
        {
            "title": "I can wait a bit",
            "rows": [
                {
                    "id": "usps_ground_advantage",
                    "title": "USPS Ground Advantage",
                    "description": "25 Days",
                },
                {"id": "media_mail", "title": "Media Mail", "description": "28 Days"},
            ],
        },
    ],
    header="Choose Shipping Option",
    footer="Lucky Shrub: Your gateway to succulentsTM",
)
NAMED_TEMPLATE: dict[str, Any] = {
    "name": "reservation_confirmation",
    "language": "en_US",
    "components": [header_media_component("image", id="2871834006348767"), body_component(NAMED)],
}
POSITIONAL_TEMPLATE: dict[str, Any] = {
    "name": "sample_flight_confirmation",
    "language": {"code": "en_US"},
    "components": [
        header_media_component(
            "document", filename="FlightConfirmation.pdf", link="<DOCUMENT_URL>"
        ),
        body_component(["<ORIGIN>", "<DESTINATION>", "<TIME>"]),
    ],
}
QUOTED = "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTdCNTg5RjY1MEMyRjlGMjRGNgA="
REACTED = "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MAA="
US = "+16505551234"

# corpus name -> (call through the specific method, the same through the generic send())
CASES: dict[str, tuple[Call, OutboundMessage]] = {
    "text_preview_url": (
        lambda m: m.send_text(
            CREDS,
            US,
            "As requested, here's the link to our latest product: "
            "https://www.meta.com/quest/quest-3/",
            preview_url=True,
        ),
        OutboundMessage(
            US,
            "text",
            "As requested, here's the link to our latest product: "
            "https://www.meta.com/quest/quest-3/",
            preview_url=True,
        ),
    ),
    "text_reply_with_context": (
        lambda m: m.send_text(CREDS, US, "You're welcome, Pablo!", reply_to=QUOTED),
        OutboundMessage(US, "text", "You're welcome, Pablo!", reply_to=QUOTED),
    ),
    "image_by_id_caption": (
        lambda m: m.send_image(
            CREDS, US, media_id="1479537139650973", caption="The best succulent ever?"
        ),
        OutboundMessage(
            US, "image", media_id="1479537139650973", caption="The best succulent ever?"
        ),
    ),
    "image_by_link_caption": (
        lambda m: m.send_image(
            CREDS, "5511999999999", link="https://example.com/image.jpg", caption="caption text"
        ),
        OutboundMessage(
            "5511999999999",
            "image",
            media_url="https://example.com/image.jpg",
            caption="caption text",
        ),
    ),
    "audio_by_id_voice": (
        lambda m: m.send_audio(CREDS, US, media_id="1013859600285441", voice=True),
        OutboundMessage(US, "audio", media_id="1013859600285441", voice=True),
    ),
    "audio_by_link": (
        lambda m: m.send_audio(CREDS, "5511999999999", link="https://example.com/audio.mp3"),
        OutboundMessage("5511999999999", "audio", media_url="https://example.com/audio.mp3"),
    ),
    "document_by_id": (
        lambda m: m.send_document(
            CREDS,
            US,
            media_id="1376223850470843",
            filename="order_abc123.pdf",
            caption="Your order confirmation (PDF)",
        ),
        OutboundMessage(
            US,
            "document",
            media_id="1376223850470843",
            filename="order_abc123.pdf",
            caption="Your order confirmation (PDF)",
        ),
    ),
    "template_named_params_image_header": (
        lambda m: m.send_template(
            CREDS, "16505551234", "reservation_confirmation", "en_US", NAMED_TEMPLATE["components"]
        ),
        OutboundMessage("16505551234", "template", template=NAMED_TEMPLATE),
    ),
    "template_positional_document_header": (
        lambda m: m.send_template(
            CREDS,
            "<RECIPIENT>",
            "sample_flight_confirmation",
            {"code": "en_US"},
            POSITIONAL_TEMPLATE["components"],
        ),
        OutboundMessage("<RECIPIENT>", "template", template=POSITIONAL_TEMPLATE),
    ),
    "interactive_reply_buttons": (
        lambda m: m.send_interactive(CREDS, US, BUTTONS),
        OutboundMessage(US, "interactive", interactive=BUTTONS),
    ),
    "interactive_list": (
        lambda m: m.send_interactive(CREDS, US, LIST),
        OutboundMessage(US, "interactive", interactive=LIST),
    ),
    "reaction": (
        lambda m: m.send_reaction(CREDS, US, REACTED, "\U0001f600"),
        OutboundMessage(US, "reaction", text="\U0001f600", reaction_to=REACTED),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_send_body_equals_corpus(name: str, meta: MetaGraphClient, state: GraphState) -> None:
    specific, generic = CASES[name]
    first = await specific(meta)
    second = await meta.send(CREDS, generic)
    sends = state.sent_messages()
    assert [s.json for s in sends] == [corpus(name), corpus(name)]
    assert isinstance(first, SendResult) and isinstance(second, SendResult)
    assert first.provider_message_id and first.provider_message_id.startswith("wamid.")
    assert first.provider_message_id != second.provider_message_id
    assert [s.response_id for s in sends] == [first.provider_message_id, second.provider_message_id]


def test_every_send_corpus_request_is_covered() -> None:
    names = {p.name.removesuffix(".request.json") for p in SEND.glob("*.request.json")}
    other = {"mark_as_read", "mark_as_read_typing_indicator", "register_phone_number"}
    assert names - other == set(CASES)


async def test_template_response_keeps_message_status(
    meta: MetaGraphClient, state: GraphState
) -> None:
    result = await meta.send(
        CREDS, OutboundMessage("16505551234", "template", template=NAMED_TEMPLATE)
    )
    assert result.raw["messages"][0]["message_status"] == "accepted"
    assert result.raw["contacts"] == [{"input": "16505551234", "wa_id": "16505551234"}]


async def test_callback_data_and_bsuid_recipient(meta: MetaGraphClient, state: GraphState) -> None:
    await meta.send(CREDS, OutboundMessage("user.9373abc", "text", "oi", callback_data="out:42"))
    (sent,) = state.sent_messages()
    assert sent.json is not None
    assert sent.json["recipient"] == "user.9373abc" and "to" not in sent.json
    assert sent.json["biz_opaque_callback_data"] == "out:42"


@pytest.mark.parametrize(
    ("typing", "name"), [(False, "mark_as_read"), (True, "mark_as_read_typing_indicator")]
)
async def test_mark_read_body_equals_corpus(
    typing: bool, name: str, meta: MetaGraphClient, state: GraphState
) -> None:
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
    await meta.mark_read(CREDS, wamid, typing=typing)
    (receipt,) = state.read_receipts()
    assert receipt.json == json.loads((SEND / f"{name}.request.json").read_text())
    assert state.sent_messages() == []


async def test_bearer_token_goes_to_the_phone_id_path(
    meta: MetaGraphClient, state: GraphState
) -> None:
    await meta.send_text(CREDS, US, "oi")
    (sent,) = state.sent_messages(to="16505551234")
    assert sent.path == f"/{VERSION}/{PHONE}/messages"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"


# -- errors --------------------------------------------------------------------------------


async def send_error(
    meta: MetaGraphClient, creds: ProviderCredentials = CREDS
) -> ProviderSendError:
    with pytest.raises(ProviderSendError) as caught:
        await meta.send(creds, OutboundMessage(US, "text", "oi"))
    assert TOKEN not in str(caught.value)
    return caught.value


async def test_rate_limit_429_is_retryable(meta: MetaGraphClient, state: GraphState) -> None:
    state.fail_next(1, "rate_limit", retry_after=3)
    err = await send_error(meta)
    assert (err.retryable, err.code, err.http_status, err.retry_after) == (True, "130429", 429, 3.0)
    await meta.send_text(CREDS, US, "after the limit")  # the queue was one failure long
    assert len(state.sent_messages()) == 1


async def test_pair_rate_limit_is_retryable(meta: MetaGraphClient, state: GraphState) -> None:
    state.fail_next(1, "pair_rate_limit")
    err = await send_error(meta)
    assert err.retryable and err.code == "131056" and err.http_status == 400


async def test_server_error_is_retryable(meta: MetaGraphClient, state: GraphState) -> None:
    state.fail_next(1, "server_error")
    err = await send_error(meta)
    assert err.retryable and err.http_status == 500 and not err.ambiguous


async def test_reengagement_is_permanent(meta: MetaGraphClient, state: GraphState) -> None:
    state.fail_next(1, "reengagement")
    err = await send_error(meta)
    assert not err.retryable and err.code == "131047" and not err.credentials_invalid


async def test_expired_token_marks_credentials_invalid(
    meta: MetaGraphClient, state: GraphState
) -> None:
    state.fail_next(1, "token_expired")
    err = await send_error(meta)
    assert err.credentials_invalid and not err.retryable and err.code == "190"


async def test_wrong_token_is_rejected_without_leaking_it(
    meta: MetaGraphClient, state: GraphState
) -> None:
    wrong = "EAAGwrongtoken9876543210zyxwvutsrq"
    creds = ProviderCredentials(
        "meta", "tenant-1", None, {"phone_id": PHONE, "access_token": wrong}
    )
    err = await send_error(meta, creds)
    assert err.credentials_invalid and wrong not in str(err) and wrong not in repr(err.args)


async def test_missing_credentials_are_permanent(meta: MetaGraphClient) -> None:
    creds = ProviderCredentials("meta", "tenant-1", None, {"phone_id": PHONE})
    err = await send_error(meta, creds)
    assert err.credentials_invalid and not err.retryable


async def test_timeout_after_sending_is_retryable_and_ambiguous(
    url: str, state: GraphState
) -> None:
    state.fail_next(1, "timeout")
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2)) as quick:
        meta = MetaGraphClient(quick, base_url=url, version=VERSION)
        err = await send_error(meta)
    assert err.retryable and err.ambiguous and err.code == "ReadTimeout"
    assert [r.path for r in state.requests] == [f"/{VERSION}/{PHONE}/messages"]


async def test_connection_refused_is_retryable_not_ambiguous(http: httpx.AsyncClient) -> None:
    meta = MetaGraphClient(http, base_url=f"http://127.0.0.1:{free_port()}", version=VERSION)
    err = await send_error(meta)
    assert err.retryable and not err.ambiguous


async def test_invalid_outbound_message_is_permanent(meta: MetaGraphClient) -> None:
    with pytest.raises(ProviderSendError) as caught:
        await meta.send(CREDS, OutboundMessage(US, "image"))
    assert not caught.value.retryable


# -- media ---------------------------------------------------------------------------------


async def download(
    http: httpx.AsyncClient, url: str, media_id: str, max_bytes: int = 10_000, token: str = TOKEN
) -> Any:
    return await download_meta_media(
        http,
        graph_url=url,
        version=VERSION,
        media_id=media_id,
        access_token=token,
        max_bytes=max_bytes,
    )


async def test_upload_then_download_round_trip(
    meta: MetaGraphClient, http: httpx.AsyncClient, url: str, state: GraphState
) -> None:
    data = os.urandom(3000)
    media_id = await meta.upload_media(CREDS, data, mime_type="image/png", filename="a.png")
    (upload,) = state.requests
    assert upload.path == f"/{VERSION}/{PHONE}/media"
    assert upload.json == {"messaging_product": "whatsapp", "type": "image/png"}
    got = await download(http, url, media_id)
    assert got.data == data and got.mime_type == "image/png"
    fetches = [r for r in state.requests if r.method == "GET"]
    assert [r.headers["authorization"] for r in fetches] == [f"Bearer {TOKEN}"] * 2


@pytest.mark.parametrize("omit_sizes", [False, True])
async def test_download_over_the_cap_is_refused(
    http: httpx.AsyncClient, url: str, state: GraphState, omit_sizes: bool
) -> None:
    state.omit_sizes = omit_sizes  # True: no file_size, no Content-Length, chunked stream
    media_id = state.add_media(b"x" * 5000, "audio/ogg")
    with pytest.raises(MediaTooLarge):
        await download(http, url, media_id, max_bytes=4999)
    got = await download(http, url, media_id, max_bytes=5000)
    assert got.size == 5000


async def test_expired_url_is_fetched_again_once(
    http: httpx.AsyncClient, url: str, state: GraphState
) -> None:
    media_id = state.add_media(b"voice", "audio/ogg")
    state.fail_next(1, "not_found", on="download")
    assert (await download(http, url, media_id)).data == b"voice"
    lookups = [r for r in state.requests if r.path == f"/{VERSION}/{media_id}"]
    assert len(lookups) == 2
    state.fail_next(2, "not_found", on="download")
    with pytest.raises(MediaDownloadFailed):
        await download(http, url, media_id)


async def test_media_errors_are_classified(
    http: httpx.AsyncClient, url: str, state: GraphState
) -> None:
    media_id = state.add_media(b"img", "image/jpeg")
    state.fail_next(1, "server_error", on="media_url")
    with pytest.raises(MediaTemporarilyUnavailable) as retry:
        await download(http, url, media_id)
    assert isinstance(retry.value, RetryableError)
    with pytest.raises(PermanentError) as bad_token:
        await download(http, url, media_id, token="EAAGnotthetoken1234567890abcdef")
    assert "EAAGnotthetoken" not in str(bad_token.value)
    with pytest.raises(MediaDownloadFailed):
        await download(http, url, "999")
    with pytest.raises(MediaTemporarilyUnavailable):
        await download(http, f"http://127.0.0.1:{free_port()}", media_id)


# -- sandbox view and standalone process ---------------------------------------------------


async def test_sandbox_endpoint_lists_sends_after_a_seq(
    meta: MetaGraphClient, url: str, http: httpx.AsyncClient, state: GraphState
) -> None:
    await meta.send_text(CREDS, "5511988887777", "Olá!")
    await meta.mark_read(CREDS, "wamid.in")
    await meta.send_interactive(CREDS, "5511988887777", BUTTONS)
    await meta.send_text(CREDS, "5511900000000", "outro")
    page = (await http.get(f"{url}/_sandbox/messages", params={"to": "+5511988887777"})).json()
    assert [m["text"] for m in page["messages"]] == [
        "Olá!",
        BUTTONS["body"]["text"] + " [Change | Cancel]",
    ]
    after = page["messages"][0]["seq"]
    page = (
        await http.get(f"{url}/_sandbox/messages", params={"to": "5511988887777", "after": after})
    ).json()
    assert len(page["messages"]) == 1 and page["last_seq"] > after


def test_standalone_process_accepts_any_token() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "walocal.graph_admin", "--port", str(port), "--accept-any-token"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/_sandbox/messages", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        body = {
            "messaging_product": "whatsapp",
            "to": "5511",
            "type": "text",
            "text": {"body": "hi"},
        }
        resp = httpx.post(
            f"{base}/{VERSION}/123/messages",
            json=body,
            headers={"Authorization": "Bearer anything"},
        )
        assert resp.status_code == 200 and resp.json()["messages"][0]["id"].startswith("wamid.")
        page = httpx.get(f"{base}/_sandbox/messages", params={"to": "5511"}).json()
        assert [m["text"] for m in page["messages"]] == ["hi"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
