"""SDK clients, one per (provider, key, base URL), reused across replies and closed once."""

from __future__ import annotations

import hashlib

from google import genai
from google.genai import types
from openai import AsyncOpenAI

GEMINI_DEFAULT_URL = "https://generativelanguage.googleapis.com"


class LLMClients:
    """A cache of OpenAI and Gemini clients; the service holds one and closes it on stop."""

    def __init__(self, *, timeout_s: float = 60.0, max_retries: int = 1) -> None:
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._openai: dict[tuple[str, str | None], AsyncOpenAI] = {}
        self._gemini: dict[tuple[str, str | None], genai.Client] = {}

    def openai(self, api_key: str, base_url: str | None = None) -> AsyncOpenAI:
        """An AsyncOpenAI client for this key and base URL (any OpenAI-compatible server)."""
        key = (_digest(api_key), base_url)
        if key not in self._openai:
            self._openai[key] = AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                timeout=self._timeout_s,
                max_retries=self._max_retries,
            )
        return self._openai[key]

    def gemini(self, api_key: str, base_url: str | None = None) -> genai.Client:
        """A google-genai client for this key and base URL, on the v1beta API."""
        key = (_digest(api_key), base_url)
        if key not in self._gemini:
            options = types.HttpOptions(
                base_url=base_url or GEMINI_DEFAULT_URL,
                api_version="v1beta",
                timeout=int(self._timeout_s * 1000),
            )
            self._gemini[key] = genai.Client(api_key=api_key, http_options=options)
        return self._gemini[key]

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._openai.values():
            await client.close()
        for gclient in self._gemini.values():
            await gclient.aio.aclose()
        self._openai.clear()
        self._gemini.clear()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
