"""A fake Uazapi (uazapiGO v2) server speaking the real wire format on loopback.

In process: `app = create_app(UazapiFakeState({"tok"}))` then `serve_in_thread(app)`.
Standalone: `python -m tests.fakes.uazapi --port 8091 --accept-any-token`; accepted
sends are listed at `GET /_sandbox/messages?after=<seq>`. With `webhook_url` set
(`--webhook-url`), each accepted send is echoed back to it as the real server does
(`fromMe: true, wasSentByApi: true`).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
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

    async def instance_status(request: Request) -> Response:
        if not state.token_ok(request.headers.get("token")):
            return JSONResponse({"error": "Invalid token"}, status_code=401)
        return JSONResponse(
            {
                "instance": {"id": "fake", "name": "fake", "status": "connected"},
                "status": {"connected": True, "loggedIn": True, "jid": {"user": state.owner}},
            }
        )

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
            Route("/instance/status", instance_status, methods=["GET"]),
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
