"""A fake Gemini API on loopback: scripted generateContent with function calls and inline images,
and text-to-speech (a TTS model's raw PCM in an `inlineData` part, as the real API answers)."""

from __future__ import annotations

import base64
import itertools
import math
import struct
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.embedding import fake_embedding
from tests.fakes.server import serve_in_thread

Item = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
PROMPT_TOKENS = 13
CANDIDATE_TOKENS = 5
# the TTS models' output: 16-bit little-endian mono PCM at 24 kHz, named so in the mime type
PCM_RATE = 24000
PCM_MIME = f"audio/L16;codec=pcm;rate={PCM_RATE}"
# Google counts 25 tokens per second of generated speech
AUDIO_TOKENS_PER_SECOND = 25
_SECONDS_PER_CHARACTER = 0.06


def text(content: str) -> dict[str, Any]:
    """A scripted answer: plain text."""
    return {"text": content}


def function_call(fn: str, /, **args: Any) -> dict[str, Any]:
    """A scripted answer: one function call."""
    return {"calls": [(fn, args)]}


def error(status: int, message: str = "scripted error") -> dict[str, Any]:
    """A scripted answer: an HTTP error in Google's error shape."""
    return {"status": status, "message": message}


def speech_pcm(text: str) -> bytes:
    """What the fake speaks for `text`: a tone per character, 60 ms each, deterministic."""
    per_char = int(PCM_RATE * _SECONDS_PER_CHARACTER)
    samples = []
    for char in text or " ":
        pitch = 200 + (ord(char) % 50) * 10
        samples.extend(
            int(6000 * math.sin(2 * math.pi * pitch * i / PCM_RATE)) for i in range(per_char)
        )
    return struct.pack(f"<{len(samples)}h", *samples)


def speech_tokens(text: str) -> tuple[int, int]:
    """(prompt, audio) tokens the fake reports for speaking `text`."""
    seconds = len(speech_pcm(text)) / 2 / PCM_RATE
    return len(text) // 4 + 1, round(seconds * AUDIO_TOKENS_PER_SECOND)


def _b64(data: str) -> bytes:
    """Either base64 alphabet (the SDK sends the URL-safe one), padding optional."""
    data = data.replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _wants_audio(body: dict[str, Any]) -> bool:
    generation = _get(body, "generationConfig", "generation_config") or {}
    modalities = _get(generation, "responseModalities", "response_modalities") or []
    return "AUDIO" in [str(m).upper() for m in modalities]


class FakeGemini:
    """Serves `/{version}/models/{model}:generateContent` from a script; records every request."""

    def __init__(self) -> None:
        self.script: deque[Item] = deque()
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.embedding_status = 200
        self.speeches: list[dict[str, Any]] = []
        self.speech_status = 200
        self.url = ""
        self._ids = itertools.count(1)
        self.app = self._build()

    def queue(self, *items: Item) -> None:
        """Append scripted answers, consumed one per generateContent request."""
        self.script.extend(items)

    def function_responses(self, index: int = -1) -> list[dict[str, Any]]:
        """The functionResponse parts the client sent in request `index`."""
        out = []
        for content in self.requests[index].get("contents", []):
            for part in content.get("parts", []):
                response = _get(part, "functionResponse", "function_response")
                if response:
                    out.append(response)
        return out

    def inline_images(self, index: int = -1) -> list[tuple[str, bytes]]:
        """(mime type, bytes) of the inline data parts of request `index`."""
        out = []
        for content in self.requests[index].get("contents", []):
            for part in content.get("parts", []):
                inline = _get(part, "inlineData", "inline_data")
                if inline:
                    mime = _get(inline, "mimeType", "mime_type")
                    out.append((mime, _b64(inline["data"])))
        return out

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{version}/models/{target}")
        async def generate(version: str, target: str, request: Request) -> JSONResponse:
            model, _, action = target.partition(":")
            if action in ("embedContent", "batchEmbedContents"):
                return await self._embed(model, action, request)
            if action != "generateContent":
                return JSONResponse(
                    {"error": {"code": 404, "message": "not faked", "status": "NOT_FOUND"}},
                    status_code=404,
                )
            body = await request.json()
            if _wants_audio(body):
                return self._speech(model, body, request)
            self.requests.append(
                {
                    **body,
                    "_model": model,
                    "_version": version,
                    "_key": request.headers.get("x-goog-api-key"),
                }
            )
            item = self.script.popleft() if self.script else text("ok")
            if callable(item):
                item = item(body)
            if "status" in item:
                return JSONResponse(
                    {
                        "error": {
                            "code": item["status"],
                            "message": item["message"],
                            "status": "FAKE",
                        }
                    },
                    status_code=item["status"],
                )
            return JSONResponse(self._response(model, item))

        return app

    def _speech(self, model: str, body: dict[str, Any], request: Request) -> JSONResponse:
        """A TTS answer: the spoken text as base64 PCM, usage in text and audio tokens."""
        spoken = " ".join(
            part.get("text", "") for c in body.get("contents", []) for part in c.get("parts", [])
        )
        generation = _get(body, "generationConfig", "generation_config") or {}
        speech_config = _get(generation, "speechConfig", "speech_config") or {}
        voice = _get(speech_config, "voiceConfig", "voice_config") or {}
        prebuilt = _get(voice, "prebuiltVoiceConfig", "prebuilt_voice_config") or {}
        self.speeches.append(
            {
                "text": spoken,
                "voice": _get(prebuilt, "voiceName", "voice_name"),
                "modalities": _get(generation, "responseModalities", "response_modalities"),
                "_model": model,
                "_key": request.headers.get("x-goog-api-key"),
            }
        )
        if self.speech_status != 200:
            return JSONResponse(
                {"error": {"code": self.speech_status, "message": "tts failed", "status": "FAKE"}},
                status_code=self.speech_status,
            )
        prompt, audio = speech_tokens(spoken)
        inline = {"mimeType": PCM_MIME, "data": base64.b64encode(speech_pcm(spoken)).decode()}
        return JSONResponse(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"inlineData": inline}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt,
                    "candidatesTokenCount": audio,
                    "totalTokenCount": prompt + audio,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
                    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": audio}],
                },
                "modelVersion": model,
            }
        )

    async def _embed(self, model: str, action: str, request: Request) -> JSONResponse:
        body = await request.json()
        self.embedding_requests.append(
            {**body, "_model": model, "_key": request.headers.get("x-goog-api-key")}
        )
        if self.embedding_status != 200:
            return JSONResponse(
                {"error": {"code": self.embedding_status, "message": "scripted", "status": "FAKE"}},
                status_code=self.embedding_status,
            )

        def values(req: dict[str, Any]) -> dict[str, Any]:
            text = " ".join(p.get("text", "") for p in req.get("content", {}).get("parts", []))
            dims = _get(req, "outputDimensionality", "output_dimensionality")
            vector = fake_embedding(text)
            return {"values": (vector * (1 + (dims or 0) // len(vector)))[: dims or len(vector)]}

        if action == "embedContent":
            return JSONResponse({"embedding": values(body)})
        return JSONResponse({"embeddings": [values(r) for r in body.get("requests", [])]})

    def _response(self, model: str, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("calls"):
            parts = [
                {"functionCall": {"id": f"fc_{next(self._ids)}", "name": name, "args": args}}
                for name, args in item["calls"]
            ]
        else:
            parts = [{"text": item["text"]}]
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": PROMPT_TOKENS,
                "candidatesTokenCount": CANDIDATE_TOKENS,
                "totalTokenCount": PROMPT_TOKENS + CANDIDATE_TOKENS,
            },
            "modelVersion": model,
        }

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[FakeGemini]:
        """Run a fresh fake on a free loopback port."""
        fake = cls()
        with serve_in_thread(fake.app) as server:
            fake.url = server.url
            yield fake
