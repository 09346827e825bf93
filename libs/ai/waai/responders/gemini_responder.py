"""Replies through Gemini generateContent with function declarations, with a bounded tool loop.

A tenant with `llm_config.file_search` also gets its File Search store as a tool, in the same
request as the functions (`include_server_side_tool_invocations`, the API's documented way to
combine built-in tools and function calling). A model that refuses the combination (HTTP 400)
is asked again without File Search: the local passages are in the system prompt either way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from waai.knowledge.file_search import file_search_enabled
from waai.knowledge.file_search_store import store_name
from waai.llm.config import LLMConfig
from waai.llm.errors import (
    TRANSPORT_ERRORS,
    LLMRejected,
    LLMUnavailable,
    blocked_by_guard,
)
from waai.llm.turn import Prepared, ResponderDeps, finish, prepare, record_call
from waai.responders.responder import ResponderInput, ResponderOutput, Usage
from waai.tools.registry import Toolbox

log = structlog.get_logger(__name__)

_UNREACHABLE: tuple[type[Exception], ...] = (TimeoutError, *TRANSPORT_ERRORS)
CONVERSATION_START = "(início da conversa)"


class GeminiResponder:
    """A tenant's responder on the Gemini API."""

    def __init__(
        self, client: genai.Client, config: LLMConfig, toolbox: Toolbox, deps: ResponderDeps
    ) -> None:
        self._client = client
        self._config = config
        self._toolbox = toolbox
        self._deps = deps

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        """Retrieve, call the model, run the functions it asks for, and shape the answer."""
        prepared = await prepare(inp, self._config, self._toolbox, self._deps)
        usage = Usage(model=self._config.model)
        try:
            async with asyncio.timeout(self._deps.settings.llm_timeout_s):
                store = await self._file_search_store(inp)
                text = await self._loop(prepared, usage, store)
        except _UNREACHABLE as exc:
            if blocked_by_guard(exc):
                # the tenant's base URL points into the private network: no retry cures it
                raise LLMRejected("gemini: base URL blocked", reason="base_url_blocked") from exc
            raise LLMUnavailable(f"gemini: {type(exc).__name__}") from exc
        except genai_errors.APIError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise LLMUnavailable(f"gemini: HTTP {exc.code}") from exc
            raise LLMRejected(f"gemini: HTTP {exc.code}", exc.code) from exc
        return finish(text, prepared, usage, self._deps.settings)

    async def _file_search_store(self, inp: ResponderInput) -> str | None:
        if not file_search_enabled(inp.tenant.tools_config):
            return None
        try:
            return await store_name(self._deps.pool, inp.tenant.id)
        except Exception as exc:
            log.warning("file_search_store_lookup_failed", error=repr(exc))
            return None

    async def _loop(self, prepared: Prepared, usage: Usage, store: str | None) -> str:
        contents = _contents(prepared)
        steps = self._deps.settings.llm_max_tool_steps
        for step in range(steps + 1):
            last = step == steps
            try:
                resp = await self._generate(
                    contents, self._config_for(prepared.system, last, store)
                )
            except genai_errors.ClientError as exc:
                if store is None or exc.code != 400:
                    raise
                log.warning("file_search_rejected", store=store, error=exc.message)
                store = None
                resp = await self._generate(contents, self._config_for(prepared.system, last, None))
            _log_grounding(resp)
            meta = resp.usage_metadata
            if meta is not None:
                usage.tokens_in += meta.prompt_token_count or 0
                usage.tokens_out += meta.candidates_token_count or 0
            calls = resp.function_calls or []
            if not calls or step == steps or not resp.candidates:
                return _text(resp)
            model_turn = resp.candidates[0].content
            if model_turn is not None:
                contents.append(model_turn)
            parts = []
            for call in calls:
                name = call.name or ""
                result = await self._toolbox.execute(prepared.ctx, name, call.args or {})
                record_call(usage, result)
                parts.append(
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=call.id, name=name, response=json.loads(result.content)
                        )
                    )
                )
            contents.append(types.Content(role="user", parts=parts))
        return ""

    async def _generate(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        return await self._client.aio.models.generate_content(
            model=self._config.model, contents=contents, config=config
        )

    def _config_for(
        self, system: str, last: bool, store: str | None
    ) -> types.GenerateContentConfig:
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=self._config.temperature,
            max_output_tokens=self._config.max_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        tools: list[types.ToolUnion] = []
        if store:
            tools.append(types.Tool(file_search=types.FileSearch(file_search_store_names=[store])))
        specs = self._toolbox.specs
        if specs:
            tools.append(
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=s.name,
                            description=s.description,
                            parameters_json_schema=s.parameters,
                        )
                        for s in specs
                    ]
                )
            )
            # the last step may not call functions: the model must answer with what it has
            mode = (
                types.FunctionCallingConfigMode.NONE
                if last
                else types.FunctionCallingConfigMode.AUTO
            )
            config.tool_config = types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=mode),
                include_server_side_tool_invocations=True if store else None,
            )
        # a function calling config without function declarations is refused: none then
        config.tools = tools or None
        return config


def _contents(prepared: Prepared) -> list[types.Content]:
    contents = [
        types.Content(role="user" if t.role == "user" else "model", parts=[types.Part(text=t.text)])
        for t in prepared.turns
    ]
    if contents and contents[0].role == "model":
        # Gemini wants a conversation to open with the user (e.g. a reply to our campaign)
        contents.insert(0, types.Content(role="user", parts=[types.Part(text=CONVERSATION_START)]))
    return contents


def _log_grounding(resp: types.GenerateContentResponse) -> None:
    """Log which File Search documents grounded an answer (the passages stay out of logs)."""
    if not resp.candidates or resp.candidates[0].grounding_metadata is None:
        return
    chunks = resp.candidates[0].grounding_metadata.grounding_chunks or []
    titles = [c.retrieved_context.title or "" for c in chunks if c.retrieved_context is not None]
    if titles:
        log.info("file_search_grounding", documents=sorted(set(titles)))


def _text(resp: types.GenerateContentResponse) -> str:
    if not resp.candidates or resp.candidates[0].content is None:
        return ""
    parts: list[Any] = resp.candidates[0].content.parts or []
    return "".join(p.text for p in parts if getattr(p, "text", None) and not p.thought)
