"""A search query from the customer's last messages, written by the tenant's model.

Behind `llm_config.query_rewrite` (default `QUERY_REWRITE`, off): a customer who writes
"e pro meu marido?" after asking a price needs the earlier message in the query, and chat
spelling is better expanded by a model than by a list. A failed or empty rewrite falls back to
the customer's own words: retrieval never waits on it to fail the turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from waai.llm.clients import LLMClients
from waai.llm.config import LLMConfig
from waai.responders.responder import Turn

log = structlog.get_logger(__name__)

INSTRUCTIONS = (
    "Você transforma a conversa de um cliente com uma empresa numa consulta de busca para a base "
    "de conhecimento da empresa. Escreva só a consulta, numa linha, em português: o que o "
    "cliente quer saber na última mensagem, completado pelo contexto das anteriores, com as "
    "abreviações e gírias por extenso e os erros de digitação corrigidos. Sem saudação, sem "
    "explicação, sem aspas."
)
# the customer's last messages (and the replies between them) the model sees
CONTEXT_TURNS = 6
MAX_QUERY_CHARS = 300


class QueryRewriter(Protocol):
    """Writes a search query from the end of a conversation."""

    async def rewrite(self, turns: Sequence[Turn]) -> str: ...


def transcript(turns: Sequence[Turn]) -> str:
    """The last turns as "cliente: ..." / "atendente: ..." lines."""
    lines = [
        f"{'cliente' if t.role == 'customer' else 'atendente'}: {t.text.strip()}"
        for t in turns[-CONTEXT_TURNS:]
        if t.text.strip()
    ]
    return "\n".join(lines)


def _clean(text: str | None) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line.strip("\"'“”")[:MAX_QUERY_CHARS]


class OpenAIQueryRewriter:
    """The rewrite on chat completions (OpenAI or any compatible server)."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model

    async def rewrite(self, turns: Sequence[Turn]) -> str:
        """The query, or "" when the model gave none."""
        result = await self._client.chat.completions.create(
            model=self._model,
            messages=[
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": transcript(turns)},
            ],
            temperature=0,
            max_tokens=80,
        )
        return _clean(result.choices[0].message.content if result.choices else "")


class GeminiQueryRewriter:
    """The rewrite on Gemini generateContent."""

    def __init__(self, client: genai.Client, model: str) -> None:
        self._client = client
        self._model = model

    async def rewrite(self, turns: Sequence[Turn]) -> str:
        """The query, or "" when the model gave none."""
        result = await self._client.aio.models.generate_content(
            model=self._model,
            contents=transcript(turns),
            config=types.GenerateContentConfig(
                system_instruction=INSTRUCTIONS, temperature=0, max_output_tokens=80
            ),
        )
        return _clean(result.text)


async def search_query(rewriter: QueryRewriter | None, turns: Sequence[Turn], plain: str) -> str:
    """The rewritten query, or `plain` (the customer's words) without a rewriter or on failure."""
    if rewriter is None or not plain:
        return plain
    try:
        rewritten = await rewriter.rewrite(turns)
    except Exception as exc:
        log.warning("query_rewrite_failed", error=repr(exc)[:300])
        return plain
    return rewritten or plain


def rewriter_for(config: LLMConfig, clients: LLMClients) -> QueryRewriter | None:
    """The tenant's rewriter when `llm_config.query_rewrite` is on and it has a model to call."""
    if not config.query_rewrite or config.provider == "offline" or config.api_key is None:
        return None
    if config.provider == "openai":
        return OpenAIQueryRewriter(clients.openai(config.api_key, config.base_url), config.model)
    return GeminiQueryRewriter(clients.gemini(config.api_key, config.base_url), config.model)
