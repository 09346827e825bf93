"""The "test the key" button: one cheap real call to the tenant's configured model.

The call goes through the same SDK clients the rag-worker uses (`waai.llm.clients`), so a
tenant's base URL is reached only through the guarded HTTP client; the answer is one
token. The provider's own error message is returned as it came (status and text), never
the key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from google.genai import errors as genai_errors
from google.genai import types

from console.bot_settings.model import ai_defaults
from waai.llm.clients import LLMClients
from waai.llm.config import LLMConfig, LLMConfigInvalid, llm_config_of
from wacommon.tenants.sections.ai import LLMSection
from wacommon.tenants.sections.base import parse_section

TIMEOUT_S = 20.0
PROMPT = "Responda apenas: ok"


@dataclass(frozen=True)
class KeyTest:
    ok: bool
    provider: str
    model: str
    status: int | None = None
    error: str | None = None
    elapsed_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "elapsed_ms": self.elapsed_ms,
        }


def _trusted(allowed_hosts: frozenset[str]) -> set[str]:
    ai = ai_defaults()
    hosts = set(allowed_hosts)
    for url in (ai.openai_base_url, ai.gemini_base_url, ai.openrouter_base_url):
        if url:
            hosts.add(httpx.URL(url).host)
    return hosts


async def test_model(llm_config: dict[str, Any], allowed_hosts: frozenset[str]) -> KeyTest:
    """Call the configured provider once; `llm_config` is `tools_config.llm_config`, opened."""
    section = parse_section(LLMSection, llm_config or None, "llm")
    # the console's TOOL_ALLOWED_HOSTS are the operator's hosts, as in the rag-worker
    base = ai_defaults()
    defaults = base.model_copy(
        update={"tool_allowed_hosts": base.tool_allowed_hosts | allowed_hosts}
    )
    try:
        config = llm_config_of(section, defaults)
    except LLMConfigInvalid as exc:
        return KeyTest(False, section.provider or defaults.llm_provider, "", error=str(exc))
    if config.provider == "offline":
        return KeyTest(False, "offline", "", error="nenhum provedor de IA configurado")
    clients = LLMClients(timeout_s=TIMEOUT_S, max_retries=0, trusted_hosts=_trusted(allowed_hosts))
    started = time.monotonic()
    try:
        if config.provider == "gemini":
            await _gemini(clients, config)
        else:
            await _openai(clients, config)
    except openai.APIStatusError as exc:
        return _failed(config, started, exc.status_code, _openai_message(exc))
    except genai_errors.APIError as exc:
        return _failed(config, started, exc.code, str(exc.message or exc))
    except (openai.APIConnectionError, httpx.HTTPError) as exc:
        cause = exc.__cause__ or exc
        return _failed(config, started, None, f"{exc}: {cause}" if cause is not exc else str(exc))
    finally:
        await clients.aclose()
    return KeyTest(True, config.vendor, config.model, elapsed_ms=_ms(started))


def _failed(config: LLMConfig, started: float, status: int | None, message: str) -> KeyTest:
    return KeyTest(
        False, config.vendor, config.model, status=status, error=message, elapsed_ms=_ms(started)
    )


def _openai_message(exc: openai.APIStatusError) -> str:
    """The provider's own words (the SDK prefixes "Error code: N - " to its message)."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def _openai(clients: LLMClients, config: LLMConfig) -> None:
    client = clients.openai(config.api_key or "", config.base_url)
    params: dict[str, Any] = {
        "model": config.model,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens
    params["max_completion_tokens" if config.base_url is None else "max_tokens"] = 1
    await client.chat.completions.create(**params)


async def _gemini(clients: LLMClients, config: LLMConfig) -> None:
    client = clients.gemini(config.api_key or "", config.base_url)
    await client.aio.models.generate_content(
        model=config.model,
        contents=PROMPT,
        config=types.GenerateContentConfig(max_output_tokens=1),
    )
