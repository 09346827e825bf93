"""A fake OpenAI API on loopback: scripted chat completions (with tool calls), transcriptions, embeddings."""

from __future__ import annotations

import base64
import itertools
import json
import struct
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.embedding import fake_embedding
from tests.fakes.server import serve_in_thread

Item = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7


def text(content: str) -> dict[str, Any]:
    """A scripted answer: plain text."""
    return {"content": content}


def tool_call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A scripted answer: one tool call."""
    return {"tool_calls": [(tool, arguments)]}


def speech_bytes(text: str) -> bytes:
    """What the fake speaks for `text`: an Ogg page header and the text, deterministic."""
    return b"OggS\x00\x02" + b"OpusHead" + text.encode()


def error(status: int, message: str = "scripted error") -> dict[str, Any]:
    """A scripted answer: an HTTP error."""
    return {"status": status, "message": message}


def _encoded(vector: list[float], body: dict[str, Any]) -> list[float] | str:
    """Floats, or base64 little-endian float32 when the client asks for it (the SDK's default)."""
    if body.get("encoding_format") == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class FakeOpenAI:
    """Serves chat completions from a script, transcriptions, speech and embeddings; records them."""

    def __init__(self) -> None:
        self.script: deque[Item] = deque()
        self.requests: list[dict[str, Any]] = []
        self.transcriptions: list[dict[str, Any]] = []
        self.transcript_text = "Olá, queria marcar um horário."
        self.transcript_status = 200
        self.speeches: list[dict[str, Any]] = []
        self.speech_status = 200
        self.embedding_requests: list[dict[str, Any]] = []
        self.embedding_status = 200
        self.url = ""
        # the answer when the script is empty (a callable answers from the request)
        self.default: Item = text("ok")
        self._ids = itertools.count(1)
        self.app = self._build()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def queue(self, *items: Item) -> None:
        """Append scripted answers, consumed one per chat completion request."""
        self.script.extend(items)

    def tool_results(self, index: int = -1) -> list[dict[str, Any]]:
        """The tool messages (parsed content) the client sent in request `index`."""
        return [
            json.loads(m["content"])
            for m in self.requests[index]["messages"]
            if m["role"] == "tool"
        ]

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append({**body, "_auth": request.headers.get("authorization")})
            item = self.script.popleft() if self.script else self.default
            if callable(item):
                item = item(body)
            if "status" in item:
                return JSONResponse(
                    {"error": {"message": item["message"], "type": "fake", "code": None}},
                    status_code=item["status"],
                )
            return JSONResponse(self._completion(body["model"], item))

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            self.embedding_requests.append({**body, "_auth": request.headers.get("authorization")})
            if self.embedding_status != 200:
                return JSONResponse(
                    {"error": {"message": "scripted error", "type": "fake", "code": None}},
                    status_code=self.embedding_status,
                )
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": _encoded(fake_embedding(t), body)}
                for i, t in enumerate(inputs)
            ]
            tokens = sum(len(str(t).split()) for t in inputs)
            return JSONResponse(
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )

        @app.post("/v1/audio/transcriptions")
        async def transcriptions(request: Request) -> JSONResponse:
            form = await request.form()
            upload = form["file"]
            data = await upload.read() if hasattr(upload, "read") else b""
            self.transcriptions.append(
                {
                    "model": form.get("model"),
                    "language": form.get("language"),
                    "filename": getattr(upload, "filename", None),
                    "content_type": getattr(upload, "content_type", None),
                    "size": len(data),
                    "auth": request.headers.get("authorization"),
                }
            )
            if self.transcript_status != 200:
                return JSONResponse(
                    {"error": {"message": "bad audio", "type": "fake"}},
                    status_code=self.transcript_status,
                )
            return JSONResponse(
                {"text": self.transcript_text, "usage": {"type": "duration", "seconds": 4}}
            )

        @app.post("/v1/audio/speech")
        async def speech(request: Request) -> Response:
            # OpenAI text-to-speech: JSON in, the audio bytes out (opus -> Ogg/Opus)
            body = await request.json()
            self.speeches.append({**body, "_auth": request.headers.get("authorization")})
            if self.speech_status != 200:
                return JSONResponse(
                    {"error": {"message": "tts failed", "type": "fake", "code": None}},
                    status_code=self.speech_status,
                )
            fmt = body.get("response_format") or "mp3"
            audio = speech_bytes(str(body.get("input", "")))
            media = {"opus": "audio/ogg", "mp3": "audio/mpeg"}.get(fmt, "application/octet-stream")
            return Response(content=audio, media_type=media)

        return app

    def _completion(self, model: str, item: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": item.get("content")}
        finish = "stop"
        if item.get("tool_calls"):
            finish = "tool_calls"
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in item["tool_calls"]
            ]
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
        }

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[FakeOpenAI]:
        """Run a fresh fake on a free loopback port."""
        fake = cls()
        with serve_in_thread(fake.app) as server:
            fake.url = server.url
            yield fake
