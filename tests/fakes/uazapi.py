"""A fake Uazapi (uazapiGO v2) server speaking the real wire format on loopback.

In process: `app = create_app(UazapiFakeState({"tok"}))` then `serve_in_thread(app)`.
Instances: tokens given at construction are connected numbers; `POST /instance/create`
(header `admintoken`) or `add_instance` makes a disconnected one. `POST /instance/connect`
answers a QR code (a PNG data URL, as Uazapi does) or, with `phone`, a pairing code, and
the instance turns connected `connect_delay_s` later (None: never, the code expires after
`code_ttl_s`); `GET /instance/status` tells which, `POST /instance/disconnect` logs out,
`POST /webhook` is recorded per token in `webhooks`.
Standalone: `python -m tests.fakes.uazapi --port 8091 --accept-any-token`; accepted
sends are listed at `GET /_sandbox/messages?after=<seq>`. With `webhook_url` set
(`--webhook-url`), each accepted send is echoed back to it as the real server does
(`fromMe: true, wasSentByApi: true`).
"""

from __future__ import annotations

import asyncio
import base64
import random
import struct
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.gateway_state import (
    GatewayState,
    cli_args,
    programmed,
    read_json,
    sandbox_messages,
)

SEND_PATHS = ("/send/", "/message/react")
_MESSAGE_TYPES = {
    "image": "ImageMessage",
    "video": "VideoMessage",
    "document": "DocumentMessage",
    "audio": "AudioMessage",
    "myaudio": "AudioMessage",
    "ptt": "AudioMessage",
    "ptv": "VideoMessage",
    "sticker": "StickerMessage",
}


@dataclass
class FakeInstance:
    """One instance's connection as the fake scripts it."""

    name: str
    status: str = "disconnected"
    connect_at: float | None = None
    expires_at: float | None = None
    paircode: str | None = None
    qr_seq: int = 0
    last_disconnect_reason: str = ""

    def tick(self, now: float) -> None:
        """A pending connect turns connected at `connect_at`, or drops at `expires_at`."""
        if self.status != "connecting":
            return
        if self.connect_at is not None and now >= self.connect_at:
            self.status, self.paircode = "connected", None
        elif self.expires_at is not None and now >= self.expires_at:
            self.status, self.paircode = "disconnected", None
            self.last_disconnect_reason = "QR code timeout"


def qr_png(seed: int, modules: int = 25, scale: int = 6) -> str:
    """A QR-looking PNG (random modules, three finder squares) as a data URL."""
    rng = random.Random(seed)
    grid = [[rng.random() < 0.5 for _ in range(modules)] for _ in range(modules)]
    for oy, ox in ((0, 0), (0, modules - 7), (modules - 7, 0)):
        for y in range(7):
            for x in range(7):
                ring = max(abs(y - 3), abs(x - 3))
                grid[oy + y][ox + x] = ring != 2
    quiet = 4
    size = (modules + 2 * quiet) * scale
    rows = []
    for py in range(size):
        my = py // scale - quiet
        line = bytearray([0])
        for px in range(size):
            mx = px // scale - quiet
            dark = 0 <= my < modules and 0 <= mx < modules and grid[my][mx]
            line.append(0 if dark else 255)
        rows.append(bytes(line))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


class UazapiFakeState(GatewayState):
    """Valid instance tokens, the instance number, stored media and the download mode."""

    def __init__(
        self,
        tokens: set[str] | None = None,
        *,
        accept_any_token: bool = False,
        owner: str = "5511900000001",
    ) -> None:
        super().__init__(tokens, accept_any_token=accept_any_token)
        self.owner = owner
        self.media: dict[str, tuple[bytes, str]] = {}
        # "base64": answer base64Data inline; "link": answer a fileURL served by the fake
        self.download_mode = "base64"
        self.webhook_url: str | None = None
        self.echo_tasks: set[asyncio.Task[None]] = set()
        self.admin_token: str | None = None
        self.instances: dict[str, FakeInstance] = {
            t: FakeInstance("fake", "connected") for t in self.tokens
        }
        # a connect turns connected this long after it was asked (None: never)
        self.connect_delay_s: float | None = 2.0
        # how long Uazapi keeps an unanswered code (the real server: 120 s QR, 300 s pairing)
        self.code_ttl_s: float = 120.0
        self.webhooks: dict[str, dict[str, Any]] = {}

    def add_instance(self, token: str, name: str = "fake") -> FakeInstance:
        """A valid token whose instance is disconnected (an attach, then a connect)."""
        self.tokens.add(token)
        self.instances[token] = FakeInstance(name)
        return self.instances[token]

    def instance(self, token: str) -> FakeInstance:
        if token not in self.instances:  # accept_any_token: a number already in use
            self.instances[token] = FakeInstance("fake", "connected")
        return self.instances[token]

    def add_media(self, message_id: str, data: bytes, mime_type: str) -> None:
        self.media[message_id] = (data, mime_type)


def create_app(state: UazapiFakeState) -> Starlette:
    """The ASGI app; `state` is shared with the test that programs and inspects it."""

    async def guarded(request: Request) -> tuple[Any, Response | None]:
        body = await read_json(request)
        failure = await programmed(state, request, body)
        if failure is not None:
            return body, failure
        if not state.token_ok(request.headers.get("token")):
            state.record(request, body, 401)
            return body, JSONResponse({"error": "Invalid token"}, status_code=401)
        if not isinstance(body, dict):
            state.record(request, body, 400)
            return body, JSONResponse({"error": "Invalid JSON body"}, status_code=400)
        return body, None

    def refuse(request: Request, body: Any, error: str) -> Response:
        state.record(request, body, 400)
        return JSONResponse({"error": error}, status_code=400)

    def message(body: dict[str, Any], message_type: str, text: str) -> dict[str, Any]:
        message_id = "3EB0" + uuid.uuid4().hex[:18].upper()
        number = str(body.get("number", ""))
        chat = number if "@" in number else f"{number}@s.whatsapp.net"
        return {
            "id": f"{state.owner}:{message_id}",
            "messageid": message_id,
            "chatid": chat,
            "fromMe": True,
            "messageType": message_type,
            "messageTimestamp": int(time.time() * 1000),
            "status": "Sent",
            "text": text,
            "wasSentByApi": True,
            "track_source": body.get("track_source", ""),
            "track_id": body.get("track_id", ""),
            "owner": state.owner,
            "response": {"status": "success", "message": "Message sent successfully"},
        }

    def accepted(request: Request, body: Any, answer: dict[str, Any]) -> Response:
        state.record(request, body, 200, answer)
        if state.webhook_url and "messageid" in answer:
            echo = echo_webhook(state, request, answer)
            task = asyncio.create_task(post_echo(state.webhook_url, echo))
            state.echo_tasks.add(task)
            task.add_done_callback(state.echo_tasks.discard)
        return JSONResponse(answer)

    async def send_text(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        if not body.get("number") or not body.get("text"):
            return refuse(request, body, "Missing number or text")
        return accepted(request, body, message(body, "ExtendedTextMessage", str(body["text"])))

    async def send_media(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        if not body.get("number") or not body.get("type") or not body.get("file"):
            return refuse(request, body, "Missing number, type or file")
        if body["type"] not in _MESSAGE_TYPES:
            return refuse(request, body, "Invalid media type")
        answer = message(body, _MESSAGE_TYPES[body["type"]], str(body.get("text", "")))
        answer["response"]["fileUrl"] = str(body["file"])
        return accepted(request, body, answer)

    async def react(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        if not body.get("number") or not body.get("id"):
            return refuse(request, body, "Missing number or id")
        return accepted(request, body, message(body, "ReactionMessage", str(body.get("text", ""))))

    async def markread(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        ids = body.get("id")
        if not isinstance(ids, list) or not ids:
            return refuse(request, body, "Missing id")
        return accepted(request, body, {"success": True, "message": "Messages marked as read"})

    async def presence(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        if not body.get("number") or body.get("presence") not in (
            "composing",
            "recording",
            "paused",
        ):
            return refuse(request, body, "Missing number or invalid presence")
        return accepted(request, body, {"response": "Chat presence sent successfully"})

    async def download(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        stored = state.media.get(str(body.get("id", "")))
        if stored is None:
            state.record(request, body, 404)
            return JSONResponse({"error": "Message not found"}, status_code=404)
        data, mime = stored
        answer: dict[str, Any] = {"mimetype": mime, "transcription": ""}
        if state.download_mode == "link":
            answer["fileURL"] = f"{str(request.base_url).rstrip('/')}/_fake/files/{body['id']}"
        else:
            answer["base64Data"] = base64.b64encode(data).decode()
        return accepted(request, body, answer)

    async def file(request: Request) -> Response:
        stored = state.media.get(request.path_params["message_id"])
        if stored is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(stored[0], media_type=stored[1])

    def instance_json(token: str, item: FakeInstance) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": "r" + uuid.uuid5(uuid.NAMESPACE_URL, token).hex[:14],
            "token": token,
            "status": item.status,
            "name": item.name,
            "profileName": "Loja Fake" if item.status == "connected" else "",
            "owner": state.owner if item.status == "connected" else "",
            "qrcode": "",
            "paircode": "",
            "lastDisconnectReason": item.last_disconnect_reason,
        }
        if item.status == "connecting":
            if item.paircode:
                answer["paircode"] = item.paircode
            else:
                # the real server renews the code while it waits: each read a new image
                item.qr_seq += 1
                answer["qrcode"] = qr_png(hash((token, item.qr_seq)))
        return answer

    def flags(item: FakeInstance) -> dict[str, Any]:
        connected = item.status == "connected"
        jid = {"user": state.owner, "agent": 0, "device": 0, "server": "s.whatsapp.net"}
        return {"connected": connected, "loggedIn": connected, "jid": jid if connected else None}

    def instance_route(
        handler: Callable[[Any, str, FakeInstance], Any],
    ) -> Callable[[Request], Awaitable[Response]]:
        """An instance endpoint: programmed failures, the `token` header, the record."""

        async def endpoint(request: Request) -> Response:
            body = await read_json(request) if request.method == "POST" else None
            failure = await programmed(state, request, body)
            if failure is not None:
                return failure
            token = request.headers.get("token")
            if token is None or not state.token_ok(token):
                state.record(request, body, 401)
                return JSONResponse({"error": "Invalid token"}, status_code=401)
            answer = handler(body, token, state.instance(token))
            if isinstance(answer, Response):
                state.record(request, body, answer.status_code)
                return answer
            state.record(request, body, 200, answer if isinstance(answer, dict) else {})
            return JSONResponse(answer)

        return endpoint

    async def instance_create(request: Request) -> Response:
        body = await read_json(request)
        failure = await programmed(state, request, body)
        if failure is not None:
            return failure
        if not state.admin_token or request.headers.get("admintoken") != state.admin_token:
            state.record(request, body, 401)
            return JSONResponse({"error": "Invalid admin token"}, status_code=401)
        if not isinstance(body, dict) or not str(body.get("name") or "").strip():
            state.record(request, body, 400)
            return JSONResponse({"error": "Missing name"}, status_code=400)
        token = str(uuid.uuid4())
        item = state.add_instance(token, str(body["name"]))
        answer = {
            "response": "Instance created successfully",
            "instance": instance_json(token, item),
            "connected": False,
            "loggedIn": False,
            "name": item.name,
            "token": token,
        }
        state.record(request, body, 200, answer)
        return JSONResponse(answer)

    def instance_connect(body: Any, token: str, item: FakeInstance) -> Any:
        phone = body.get("phone") if isinstance(body, dict) else None
        if phone is not None and not (str(phone).isdigit() and 10 <= len(str(phone)) <= 15):
            return JSONResponse({"error": "Invalid phone number"}, status_code=400)
        now = time.time()
        if item.status != "connected":
            item.status = "connecting"
            item.paircode = (
                "-".join(uuid.uuid4().hex[i : i + 4].upper() for i in (0, 4)) if phone else None
            )
            delay = state.connect_delay_s
            item.connect_at = now + delay if delay is not None else None
            item.expires_at = now + state.code_ttl_s
        return {**flags(item), "instance": instance_json(token, item)}

    def instance_status(body: Any, token: str, item: FakeInstance) -> Any:
        item.tick(time.time())
        return {"instance": instance_json(token, item), "status": flags(item)}

    def instance_disconnect(body: Any, token: str, item: FakeInstance) -> Any:
        item.status, item.paircode, item.connect_at = "disconnected", None, None
        item.last_disconnect_reason = "logged out by the API"
        return {
            "instance": instance_json(token, item),
            "response": "Disconnected",
            "info": "The device has been successfully disconnected from WhatsApp.",
        }

    def webhook_get(body: Any, token: str, item: FakeInstance) -> Any:
        current = state.webhooks.get(token)
        return [current] if current else []

    def webhook_set(body: Any, token: str, item: FakeInstance) -> Any:
        if not isinstance(body, dict) or not body.get("url") or not body.get("events"):
            return JSONResponse({"error": "Missing url or events"}, status_code=400)
        saved = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "wh" + token)),
            "enabled": bool(body.get("enabled", True)),
            "url": body["url"],
            "events": list(body["events"]),
            "excludeMessages": list(body.get("excludeMessages") or []),
            "addUrlEvents": bool(body.get("addUrlEvents", False)),
            "addUrlTypesMessages": bool(body.get("addUrlTypesMessages", False)),
        }
        state.webhooks[token] = saved
        return [saved]

    async def sandbox(request: Request) -> Response:
        return sandbox_messages(state, request, SEND_PATHS)

    return Starlette(
        routes=[
            Route("/send/text", send_text, methods=["POST"]),
            Route("/send/media", send_media, methods=["POST"]),
            Route("/message/react", react, methods=["POST"]),
            Route("/message/markread", markread, methods=["POST"]),
            Route("/message/presence", presence, methods=["POST"]),
            Route("/message/download", download, methods=["POST"]),
            Route("/instance/create", instance_create, methods=["POST"]),
            Route("/instance/connect", instance_route(instance_connect), methods=["POST"]),
            Route("/instance/status", instance_route(instance_status), methods=["GET"]),
            Route("/instance/disconnect", instance_route(instance_disconnect), methods=["POST"]),
            Route("/webhook", instance_route(webhook_get), methods=["GET"]),
            Route("/webhook", instance_route(webhook_set), methods=["POST"]),
            Route("/_fake/files/{message_id}", file, methods=["GET"]),
            Route("/_sandbox/messages", sandbox, methods=["GET"]),
        ]
    )


def echo_webhook(
    state: UazapiFakeState, request: Request, answer: dict[str, Any]
) -> dict[str, Any]:
    """The `messages` webhook the real server sends for one of our API sends."""
    message = {k: v for k, v in answer.items() if k != "response"}
    message.update(
        {
            "sender": f"{state.owner}@s.whatsapp.net",
            "sender_pn": f"{state.owner}@s.whatsapp.net",
            "isGroup": False,
            "content": answer.get("text", ""),
            "edited": "",
            "reaction": "",
            "quoted": "",
            "vote": "",
            "buttonOrListid": "",
            "mediaType": "",
            "source": "api",
            "type": "text" if answer.get("messageType") == "ExtendedTextMessage" else "media",
        }
    )
    return {
        "BaseUrl": str(request.base_url).rstrip("/"),
        "EventType": "messages",
        "instanceName": "fake",
        "owner": state.owner,
        "token": request.headers.get("token", ""),
        "chatSource": "updated",
        "chat": {"wa_chatid": answer["chatid"], "wa_isGroup": False, "owner": state.owner},
        "message": message,
    }


async def post_echo(url: str, body: dict[str, Any]) -> None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(url, json=body)
    except httpx.HTTPError:
        pass  # the real server also drops webhooks it cannot deliver


def main() -> None:
    import uvicorn

    args = cli_args("Fake Uazapi server")
    state = UazapiFakeState(set(args.token), accept_any_token=args.accept_any_token)
    state.webhook_url = args.webhook_url
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
