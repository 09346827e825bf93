"""SDK clients, one per (provider, key, base URL), reused across replies and closed once.

A tenant names its own base URL (an OpenAI-compatible server, OpenRouter, a Gemini proxy):
every SDK client talks through the guarded HTTP client (wacommon.infra.netguard), so such a URL
reaches only public addresses, checked when the connection opens. The operator's own base
URLs and TOOL_ALLOWED_HOSTS are trusted (`llm_clients`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import httpx
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from waai.llm.config import AISettings
from wacommon.infra.netguard import (
    AddressBlocked,
    HostNotFound,
    Resolver,
    public_only_transport,
    resolve,
)

GEMINI_DEFAULT_URL = "https://generativelanguage.googleapis.com"


class LLMClients:
    """A cache of OpenAI and Gemini clients; the service holds one and closes it on stop."""

    def __init__(
        self,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 1,
        trusted_hosts: Iterable[str] = (),
        resolver: Resolver = resolve,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._trusted = frozenset(h.lower() for h in trusted_hosts)
        self._resolver = resolver
        self._http: list[httpx.AsyncClient] = []
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
                # the SDK takes an httpx client as well as its httpx2 one (its stubs name only
                # httpx2); the guard is built on httpx
                http_client=self._guarded(),  # type: ignore[arg-type]
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
                httpx_async_client=self._guarded(),
            )
            self._gemini[key] = genai.Client(api_key=api_key, http_options=options)
        return self._gemini[key]

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._openai.values():
            await client.close()
        for gclient in self._gemini.values():
            await gclient.aio.aclose()
        for http in self._http:
            await http.aclose()
        self._openai.clear()
        self._gemini.clear()
        self._http.clear()

    def _guarded(self) -> httpx.AsyncClient:
        transport = public_only_transport(self._trusted, resolver=self._resolver)
        client = httpx.AsyncClient(
            transport=_RefusalAsConnectError(transport),
            timeout=self._timeout_s,
            trust_env=False,
            follow_redirects=False,
        )
        self._http.append(client)
        return client


class _RefusalAsConnectError(httpx.AsyncBaseTransport):
    """The guard's refusals as the connection errors every SDK caller already handles.

    The original stays the cause (waai.llm.errors.blocked_by_guard finds it): a
    refused address is the tenant's misconfiguration, a name that does not resolve is
    retried like any connection failure.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except (AddressBlocked, HostNotFound) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def trusted_llm_hosts(ai: AISettings) -> frozenset[str]:
    """Hosts the operator chose: TOOL_ALLOWED_HOSTS and the deployment's own base URLs."""
    urls = (ai.openai_base_url, ai.gemini_base_url, ai.openrouter_base_url)
    return frozenset({*ai.tool_allowed_hosts, *(httpx.URL(u).host for u in urls if u)})


def llm_clients(ai: AISettings, *, max_retries: int = 1) -> LLMClients:
    """The clients a service holds: guarded, trusting only the operator's hosts."""
    return LLMClients(
        timeout_s=ai.llm_timeout_s, max_retries=max_retries, trusted_hosts=trusted_llm_hosts(ai)
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
