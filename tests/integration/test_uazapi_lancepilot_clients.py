"""The Uazapi and LancePilot clients against the fake servers over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.lancepilot import LancePilotFakeState
from tests.fakes.lancepilot import create_app as lancepilot_app
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from wacommon.broker.schemas import SenderRole
from wacommon.infra.netguard import public_only_client
from wacommon.providers.credentials import ProviderCredentials
from wacommon.providers.lancepilot.outbound import LancePilotClient
from wacommon.providers.meta.media import MediaDownloadFailed, MediaTooLarge
from wacommon.providers.outbound import OutboundMessage, ProviderSendError
from wacommon.providers.uazapi.inbound import check_uazapi_envelope, parse_uazapi_webhook
from wacommon.providers.uazapi.media import download_uazapi_media
from wacommon.providers.uazapi.outbound import TRACK_SOURCE, UazapiClient

UAZ_TOKEN = "uaz-instance-token"
LP_TOKEN = "lp-bearer-token"
CUSTOMER = "5511988887777"


@pytest.fixture(scope="module")
def uaz_state() -> UazapiFakeState:
    return UazapiFakeState({UAZ_TOKEN})


@pytest.fixture(scope="module")
def uaz_server(uaz_state: UazapiFakeState) -> Iterator[ServerThread]:
    with serve_in_thread(uazapi_app(uaz_state)) as server:
        yield server


@pytest.fixture(scope="module")
def lp_state() -> LancePilotFakeState:
    return LancePilotFakeState({LP_TOKEN}, workspaces={"ws-1"})


@pytest.fixture(scope="module")
def lp_server(lp_state: LancePilotFakeState) -> Iterator[ServerThread]:
    with serve_in_thread(lancepilot_app(lp_state)) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_fakes(uaz_state: UazapiFakeState, lp_state: LancePilotFakeState) -> None:
    for state in (uaz_state, lp_state):
        state.failures.clear()
    lp_state.window.clear()
    lp_state.window_default = True
    uaz_state.download_mode = "base64"


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=0.5) as client:
        yield client


def uaz_creds(server: ServerThread, token: str = UAZ_TOKEN) -> ProviderCredentials:
    return ProviderCredentials("uazapi", "tenant-1", "inst-1", {"url": server.url, "token": token})


def lp_creds(token: str = LP_TOKEN) -> ProviderCredentials:
    return ProviderCredentials(
        "lancepilot", "tenant-1", "inst-2", {"token": token, "workspace_id": "ws-1"}
    )


def lp_client(http: httpx.AsyncClient, server: ServerThread) -> LancePilotClient:
    return LancePilotClient(http, default_base_url=f"{server.url}/api/v3")


# --- Uazapi ---------------------------------------------------------------------------


async def test_uazapi_text_send_body_and_token_header(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    seq = len(uaz_state.requests)
    result = await UazapiClient(http).send(
        uaz_creds(uaz_server),
        OutboundMessage(to="+55 11 98888-7777", text="Olá!", reply_to="AC1", callback_data="c-1"),
    )
    request = uaz_state.after(seq, "/send/text")[0]
    assert request.headers["token"] == UAZ_TOKEN
    assert request.body == {
        "number": CUSTOMER,
        "text": "Olá!",
        "linkPreview": False,
        "replyid": "AC1",
        "track_source": TRACK_SOURCE,
        "track_id": "c-1",
    }
    # the short id is what the echo webhook carries as message.messageid
    assert result.provider_message_id == request.answer["messageid"]


async def test_uazapi_media_voice_note_goes_as_ptt(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    seq = len(uaz_state.requests)
    await UazapiClient(http).send(
        uaz_creds(uaz_server),
        OutboundMessage(to=CUSTOMER, kind="audio", media_url="https://x.test/a.ogg", voice=True),
    )
    await UazapiClient(http).send(
        uaz_creds(uaz_server),
        OutboundMessage(
            to=CUSTOMER,
            kind="document",
            media_url="https://x.test/t.pdf",
            caption="Tabela",
            filename="tabela.pdf",
        ),
    )
    audio, document = (r.body for r in uaz_state.after(seq, "/send/media"))
    assert audio["type"] == "ptt" and audio["file"] == "https://x.test/a.ogg"
    assert document["type"] == "document"
    assert (document["text"], document["docName"]) == ("Tabela", "tabela.pdf")


async def test_uazapi_mark_read_and_typing(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    seq = len(uaz_state.requests)
    await UazapiClient(http).mark_read(uaz_creds(uaz_server), "AC9", chat=CUSTOMER, typing=True)
    read, typing = uaz_state.after(seq)
    assert (read.path, read.body) == ("/message/markread", {"id": ["AC9"]})
    assert typing.path == "/message/presence"
    assert typing.body == {"number": CUSTOMER, "presence": "composing"}


async def test_uazapi_bad_token_is_permanent_and_marks_credentials_invalid(
    http: httpx.AsyncClient, uaz_server: ServerThread
) -> None:
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(
            uaz_creds(uaz_server, token="wrong"), OutboundMessage(to=CUSTOMER, text="oi")
        )
    err = exc.value
    assert (err.retryable, err.credentials_invalid, err.http_status) == (False, True, 401)
    assert "wrong" not in str(err)


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limited"), (500, "server_error")])
async def test_uazapi_rate_limit_and_server_errors_are_retryable(
    http: httpx.AsyncClient,
    uaz_server: ServerThread,
    uaz_state: UazapiFakeState,
    status: int,
    code: str,
) -> None:
    uaz_state.fail_next(status, path="/send/text", retry_after=2)
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, text="a"))
    assert (exc.value.retryable, exc.value.code, exc.value.http_status) == (True, code, status)
    assert exc.value.credentials_invalid is False
    if status == 429:
        assert exc.value.retry_after == 2.0


async def test_uazapi_bad_request_is_permanent(
    http: httpx.AsyncClient, uaz_server: ServerThread
) -> None:
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, text=""))
    assert (exc.value.retryable, exc.value.http_status) == (False, 400)
    assert "Missing number or text" in str(exc.value)


async def test_uazapi_timeout_is_retryable_and_ambiguous(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    uaz_state.stall_next(1.0, path="/send/text")
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, text="a"))
    assert exc.value.retryable is True and exc.value.ambiguous is True


async def test_uazapi_unreachable_server_is_retryable_not_ambiguous(
    http: httpx.AsyncClient,
) -> None:
    creds = ProviderCredentials("uazapi", "t", None, {"url": "http://127.0.0.1:9", "token": "x"})
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(creds, OutboundMessage(to=CUSTOMER, text="a"))
    assert exc.value.retryable is True and exc.value.ambiguous is False


async def test_uazapi_template_is_refused_permanently(
    http: httpx.AsyncClient, uaz_server: ServerThread
) -> None:
    with pytest.raises(ProviderSendError) as exc:
        await UazapiClient(http).send(
            uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, kind="template", template={})
        )
    assert (exc.value.retryable, exc.value.code) == (False, "unsupported_kind")


@pytest.mark.parametrize("mode", ["base64", "link"])
async def test_uazapi_media_download(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState, mode: str
) -> None:
    uaz_state.add_media("ACIMG1", b"\xff\xd8jpeg-bytes", "image/jpeg")
    uaz_state.download_mode = mode
    seq = len(uaz_state.requests)
    async with public_only_client(["127.0.0.1"]) as links:
        media = await download_uazapi_media(
            http,
            base_url=uaz_server.url,
            token=UAZ_TOKEN,
            message_id="ACIMG1",
            max_bytes=1024,
            links=links,
            link_hosts=["127.0.0.1"],
        )
    assert (media.data, media.mime_type) == (b"\xff\xd8jpeg-bytes", "image/jpeg")
    request = uaz_state.after(seq, "/message/download")[0]
    assert request.body["id"] == "ACIMG1" and request.headers["token"] == UAZ_TOKEN


@pytest.mark.parametrize("mode", ["base64", "link"])
async def test_uazapi_media_download_refuses_media_over_the_cap(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState, mode: str
) -> None:
    uaz_state.add_media("ACBIG", b"x" * 5000, "video/mp4")
    uaz_state.download_mode = mode
    async with public_only_client(["127.0.0.1"]) as links:
        with pytest.raises(MediaTooLarge):
            await download_uazapi_media(
                http,
                base_url=uaz_server.url,
                token=UAZ_TOKEN,
                message_id="ACBIG",
                max_bytes=4096,
                links=links,
                link_hosts=["127.0.0.1"],
            )


async def test_a_uazapi_file_url_to_an_internal_address_is_refused(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    # the fake answers a fileURL on its own loopback address: the API host is the operator's,
    # the link is not, and nothing outside the allow-list may reach loopback
    uaz_state.add_media("ACLOOP", b"internal", "image/jpeg")
    uaz_state.download_mode = "link"
    async with public_only_client([]) as links:
        with pytest.raises(MediaDownloadFailed) as exc:
            await download_uazapi_media(
                http,
                base_url=uaz_server.url,
                token=UAZ_TOKEN,
                message_id="ACLOOP",
                max_bytes=4096,
                links=links,
            )
    assert "link refused" in str(exc.value) and UAZ_TOKEN not in str(exc.value)


async def test_sandbox_lists_accepted_sends_after_a_sequence(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    before = (await http.get(f"{uaz_server.url}/_sandbox/messages")).json()["last_seq"]
    await UazapiClient(http).send(uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, text="um"))
    page = (await http.get(f"{uaz_server.url}/_sandbox/messages", params={"after": before})).json()
    assert [m["body"]["text"] for m in page["messages"]] == ["um"]
    assert page["last_seq"] > before


# --- LancePilot -----------------------------------------------------------------------


async def test_lancepilot_text_checks_the_window_then_sends(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    seq = len(lp_state.requests)
    result = await lp_client(http, lp_server).send(
        lp_creds(), OutboundMessage(to="+55 11 98888-7777", text="Olá!")
    )
    check, send = lp_state.after(seq)
    base = f"/api/v3/workspaces/ws-1/contacts/number/{CUSTOMER}"
    assert (check.method, check.path) == ("GET", f"{base}/can-send-free-message")
    assert (send.method, send.path) == ("POST", f"{base}/messages/text")
    assert send.body == {"text": {"body": "Olá!"}}
    assert send.headers["authorization"] == f"Bearer {LP_TOKEN}"
    assert result.provider_message_id == send.answer["data"]["id"]


async def test_lancepilot_window_answer_per_number(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    lp_state.set_window("5511911112222", False)
    client = lp_client(http, lp_server)
    assert await client.can_send_free_message(lp_creds(), CUSTOMER) is True
    assert await client.can_send_free_message(lp_creds(), "5511911112222") is False


async def test_lancepilot_closed_window_without_template_is_permanent(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    lp_state.set_window(CUSTOMER, False)
    seq = len(lp_state.requests)
    with pytest.raises(ProviderSendError) as exc:
        await lp_client(http, lp_server).send(lp_creds(), OutboundMessage(to=CUSTOMER, text="oi"))
    assert (exc.value.retryable, exc.value.code) == (False, "window_closed")
    assert (
        lp_state.after(seq, "/api/v3/workspaces/ws-1/contacts/number/5511988887777/messages") == []
    )


async def test_lancepilot_closed_window_sends_the_configured_template(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    lp_state.set_window(CUSTOMER, False)
    creds = lp_creds()
    creds.config["window_template"] = {"template_id": 12, "template_data": {"nome": "Ana"}}
    seq = len(lp_state.requests)
    result = await lp_client(http, lp_server).send(creds, OutboundMessage(to=CUSTOMER, text="oi"))
    send = lp_state.after(seq)[-1]
    assert send.path.endswith("/template-messages")
    assert send.body == {"template_id": 12, "template_data": {"nome": "Ana"}}
    assert result.raw["window_closed"] is True


async def test_lancepilot_image_send(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    seq = len(lp_state.requests)
    await lp_client(http, lp_server).send(
        lp_creds(),
        OutboundMessage(
            to=CUSTOMER, kind="image", media_url="https://x.test/i.jpg", caption="Cardápio"
        ),
    )
    send = lp_state.after(seq)[-1]
    assert send.path.endswith("/messages/image")
    assert send.body == {"file": "https://x.test/i.jpg", "caption": "Cardápio"}


async def test_lancepilot_bad_token_is_permanent_and_marks_credentials_invalid(
    http: httpx.AsyncClient, lp_server: ServerThread
) -> None:
    with pytest.raises(ProviderSendError) as exc:
        await lp_client(http, lp_server).send(
            lp_creds("wrong"), OutboundMessage(to=CUSTOMER, text="oi")
        )
    err = exc.value
    assert (err.retryable, err.credentials_invalid, err.http_status) == (False, True, 401)
    assert "wrong" not in str(err)


@pytest.mark.parametrize("status", [429, 503])
async def test_lancepilot_rate_limit_and_server_errors_are_retryable(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState, status: int
) -> None:
    lp_state.fail_next(
        status, path="/api/v3/workspaces/ws-1/contacts/number/5511988887777/messages"
    )
    with pytest.raises(ProviderSendError) as exc:
        await lp_client(http, lp_server).send(lp_creds(), OutboundMessage(to=CUSTOMER, text="a"))
    assert (exc.value.retryable, exc.value.http_status) == (True, status)


async def test_lancepilot_missing_workspace_is_a_credentials_problem(
    http: httpx.AsyncClient, lp_server: ServerThread
) -> None:
    creds = ProviderCredentials("lancepilot", "t", None, {"token": LP_TOKEN})
    with pytest.raises(ProviderSendError) as exc:
        await lp_client(http, lp_server).send(creds, OutboundMessage(to=CUSTOMER, text="a"))
    assert (exc.value.code, exc.value.credentials_invalid) == ("credentials_missing", True)


async def test_lancepilot_timeout_is_retryable(
    http: httpx.AsyncClient, lp_server: ServerThread, lp_state: LancePilotFakeState
) -> None:
    lp_state.stall_next(1.0)
    with pytest.raises(ProviderSendError) as exc:
        await lp_client(http, lp_server).send(lp_creds(), OutboundMessage(to=CUSTOMER, text="a"))
    assert exc.value.retryable is True


async def test_uazapi_fake_echoes_our_send_as_an_own_echo_webhook(
    http: httpx.AsyncClient, uaz_server: ServerThread, uaz_state: UazapiFakeState
) -> None:
    received: list[dict[str, Any]] = []

    async def receiver(request: Request) -> Response:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/wh", receiver, methods=["POST"])])
    with serve_in_thread(app) as hook:
        uaz_state.webhook_url = f"{hook.url}/wh"
        try:
            result = await UazapiClient(http).send(
                uaz_creds(uaz_server), OutboundMessage(to=CUSTOMER, text="eco")
            )
            deadline = time.monotonic() + 5
            while not received and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            uaz_state.webhook_url = None
    parsed = parse_uazapi_webhook(check_uazapi_envelope(received[0]))
    assert parsed.token == UAZ_TOKEN
    echo = parsed.messages[0]
    assert echo.own_echo is True and echo.sender is SenderRole.BOT
    assert echo.provider_message_id == result.provider_message_id
    assert echo.contact.key == CUSTOMER
