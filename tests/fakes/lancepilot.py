"""A fake LancePilot API (v3) on loopback: Bearer tokens, the free-message window, sends.

In process: `app = create_app(LancePilotFakeState({"tok"}))`, then `serve_in_thread(app)`
and point the client at `server.url + "/api/v3"`. Standalone:
`python -m tests.fakes.lancepilot --port 8092 --accept-any-token`; accepted sends are at
`GET /_sandbox/messages?after=<seq>`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

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

PREFIX = "/api/v3"
CONTACT = PREFIX + "/workspaces/{workspace}/contacts/number/{number}"
SEND_PATHS = (PREFIX + "/workspaces/",)
MEDIA_KINDS = ("image", "audio", "video", "document")


class LancePilotFakeState(GatewayState):
    """Valid tokens and workspaces, and the 24-hour window per contact number."""

    def __init__(
        self,
        tokens: set[str] | None = None,
        *,
        accept_any_token: bool = False,
        workspaces: set[str] | None = None,
    ) -> None:
        super().__init__(tokens, accept_any_token=accept_any_token)
        # empty: any workspace id is accepted
        self.workspaces = set(workspaces or ())
        self.window_default = True
        self.window: dict[str, bool] = {}

    def set_window(self, number: str, open_: bool) -> None:
        self.window[number] = open_

    def window_open(self, number: str) -> bool:
        return self.window.get(number, self.window_default)


def create_app(state: LancePilotFakeState) -> Starlette:
    """The ASGI app; `state` is shared with the test that programs and inspects it."""

    async def guarded(request: Request) -> tuple[Any, Response | None]:
        body = await read_json(request) if request.method == "POST" else None
        failure = await programmed(state, request, body)
        if failure is not None:
            return body, failure
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if not state.token_ok(token):
            state.record(request, body, 401)
            return body, JSONResponse({"message": "Unauthenticated."}, status_code=401)
        workspace = request.path_params.get("workspace")
        if workspace is not None and state.workspaces and workspace not in state.workspaces:
            state.record(request, body, 404)
            return body, JSONResponse({"message": "Workspace not found."}, status_code=404)
        if request.method == "POST" and not isinstance(body, dict):
            state.record(request, body, 422)
            return body, JSONResponse({"message": "Invalid JSON body."}, status_code=422)
        return body, None

    def invalid(request: Request, body: Any, message: str) -> Response:
        state.record(request, body, 422)
        return JSONResponse({"message": message, "errors": {}}, status_code=422)

    def created(request: Request, body: Any, kind: str) -> Response:
        number = request.path_params["number"]
        answer = {
            "data": {
                "id": uuid.uuid4().hex,
                "type": "messages",
                "attributes": {
                    "type": kind,
                    "to": number,
                    "source": "api",
                    "status": "queued",
                    "wamid": "wamid.FAKE" + uuid.uuid4().hex[:16].upper(),
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
            }
        }
        state.record(request, body, 201, answer)
        return JSONResponse(answer, status_code=201)

    async def workspaces(request: Request) -> Response:
        _, early = await guarded(request)
        if early is not None:
            return early
        names = sorted(state.workspaces) or ["1"]
        return JSONResponse(
            {
                "data": [
                    {"id": w, "type": "workspaces", "attributes": {"name": f"Workspace {w}"}}
                    for w in names
                ]
            }
        )

    async def can_send(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        open_ = state.window_open(request.path_params["number"])
        state.record(request, body, 200, {"canSend": open_})
        return JSONResponse({"data": {"canSend": open_}})

    async def send_text(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        text = body.get("text")
        if not isinstance(text, dict) or not text.get("body"):
            return invalid(request, body, "The text.body field is required.")
        if not state.window_open(request.path_params["number"]):
            return invalid(request, body, "Free messages need an open 24-hour window.")
        return created(request, body, "text")

    async def send_media(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        kind = request.path_params["kind"]
        if kind not in MEDIA_KINDS:
            state.record(request, body, 404)
            return JSONResponse({"message": "Not found."}, status_code=404)
        if not body.get("file"):
            return invalid(request, body, "The file field is required.")
        if not state.window_open(request.path_params["number"]):
            return invalid(request, body, "Free messages need an open 24-hour window.")
        return created(request, body, kind)

    async def send_template(request: Request) -> Response:
        body, early = await guarded(request)
        if early is not None:
            return early
        if body.get("template_id") is None:
            return invalid(request, body, "The template_id field is required.")
        return created(request, body, "template")

    async def sandbox(request: Request) -> Response:
        return sandbox_messages(state, request, SEND_PATHS)

    return Starlette(
        routes=[
            Route(PREFIX + "/workspaces", workspaces, methods=["GET"]),
            Route(CONTACT + "/can-send-free-message", can_send, methods=["GET"]),
            Route(CONTACT + "/messages/text", send_text, methods=["POST"]),
            Route(CONTACT + "/messages/{kind}", send_media, methods=["POST"]),
            Route(CONTACT + "/template-messages", send_template, methods=["POST"]),
            Route("/_sandbox/messages", sandbox, methods=["GET"]),
        ]
    )


def main() -> None:
    import uvicorn

    args = cli_args("Fake LancePilot API")
    state = LancePilotFakeState(set(args.token), accept_any_token=args.accept_any_token)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
