"""One tool-less model call (system + user text) on the tenant's OpenAI or Gemini config."""

from __future__ import annotations

from dataclasses import dataclass

import openai
from google.genai import errors as genai_errors
from google.genai import types

from waai.llm.clients import LLMClients
from waai.llm.config import LLMConfig
from waai.llm.errors import TRANSPORT_ERRORS, LLMRejected, LLMUnavailable

_RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


@dataclass(frozen=True)
class Completion:
    """The model's text and what it cost."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0


async def complete(
    clients: LLMClients, config: LLMConfig, system: str, user: str, *, max_tokens: int
) -> Completion:
    """Ask the model once; LLMUnavailable to retry later, LLMRejected when retrying cannot help."""
    if config.api_key is None or config.provider == "offline":
        raise LLMRejected("no LLM configured")
    tokens = min(max_tokens, config.max_tokens)
    if config.provider == "openai":
        return await _openai(clients, config, system, user, tokens)
    return await _gemini(clients, config, system, user, tokens)


async def _openai(
    clients: LLMClients, config: LLMConfig, system: str, user: str, max_tokens: int
) -> Completion:
    client = clients.openai(config.api_key or "", config.base_url)
    # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens
    limit = "max_completion_tokens" if config.base_url is None else "max_tokens"
    try:
        resp = await client.chat.completions.create(  # type: ignore[call-overload]
            model=config.model,
            temperature=config.temperature,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            **{limit: max_tokens},
        )
    except _RETRYABLE as exc:
        raise LLMUnavailable(f"openai: {type(exc).__name__}") from exc
    except openai.APIStatusError as exc:
        raise LLMRejected(f"openai: HTTP {exc.status_code}") from exc
    usage = resp.usage
    return Completion(
        resp.choices[0].message.content or "",
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
    )


async def _gemini(
    clients: LLMClients, config: LLMConfig, system: str, user: str, max_tokens: int
) -> Completion:
    client = clients.gemini(config.api_key or "", config.base_url)
    try:
        resp = await client.aio.models.generate_content(
            model=config.model,
            contents=[types.Content(role="user", parts=[types.Part(text=user)])],
            config=types.GenerateContentConfig(
                system_instruction=system,
                temperature=config.temperature,
                max_output_tokens=max_tokens,
            ),
        )
    except TRANSPORT_ERRORS as exc:
        raise LLMUnavailable(f"gemini: {type(exc).__name__}") from exc
    except genai_errors.APIError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise LLMUnavailable(f"gemini: HTTP {exc.code}") from exc
        raise LLMRejected(f"gemini: HTTP {exc.code}") from exc
    meta = resp.usage_metadata
    parts = (
        resp.candidates[0].content.parts if resp.candidates and resp.candidates[0].content else []
    )
    text = "".join(p.text for p in parts or [] if p.text and not p.thought)
    return Completion(
        text,
        (meta.prompt_token_count or 0) if meta else 0,
        (meta.candidates_token_count or 0) if meta else 0,
    )
