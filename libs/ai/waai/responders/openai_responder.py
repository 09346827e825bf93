"""Replies through OpenAI chat completions (or any compatible server), with a bounded tool loop."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from waai.llm.config import LLMConfig
from waai.llm.errors import LLMRejected, LLMUnavailable, blocked_by_guard
from waai.llm.turn import Prepared, ResponderDeps, finish, prepare, record_call
from waai.responders.responder import ResponderInput, ResponderOutput, Usage
from waai.tools.registry import Toolbox

_RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


class OpenAIResponder:
    """A tenant's responder on the chat completions API."""

    def __init__(
        self, client: AsyncOpenAI, config: LLMConfig, toolbox: Toolbox, deps: ResponderDeps
    ) -> None:
        self._client = client
        self._config = config
        self._toolbox = toolbox
        self._deps = deps

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        """Retrieve, call the model, run the tools it asks for, and shape the answer."""
        prepared = await prepare(inp, self._config, self._toolbox, self._deps)
        usage = Usage(model=self._config.model)
        try:
            async with asyncio.timeout(self._deps.settings.llm_timeout_s):
                text = await self._loop(prepared, usage)
        except TimeoutError as exc:
            raise LLMUnavailable("the model turn timed out") from exc
        except _RETRYABLE as exc:
            if blocked_by_guard(exc):
                # the tenant's base URL points into the private network: no retry cures it
                raise LLMRejected("openai: base URL blocked", reason="base_url_blocked") from exc
            raise LLMUnavailable(f"openai: {type(exc).__name__}") from exc
        except openai.APIStatusError as exc:
            raise LLMRejected(f"openai: HTTP {exc.status_code}", exc.status_code) from exc
        return finish(text, prepared, usage, self._deps.settings)

    async def _loop(self, prepared: Prepared, usage: Usage) -> str:
        messages: list[dict[str, Any]] = [{"role": "system", "content": prepared.system}]
        messages += [{"role": t.role, "content": t.text} for t in prepared.turns]
        tools = [
            {
                "type": "function",
                "function": {
                    "name": s.name,
                    "description": s.description,
                    "parameters": s.parameters,
                },
            }
            for s in self._toolbox.specs
        ]
        steps = self._deps.settings.llm_max_tool_steps
        for step in range(steps + 1):
            kwargs = self._params()
            if tools:
                # the last step may not call tools: the model must answer with what it has
                kwargs.update(tools=tools, tool_choice="none" if step == steps else "auto")
            resp = await self._client.chat.completions.create(
                messages=messages,  # type: ignore[arg-type]
                **kwargs,
            )
            if resp.usage is not None:
                usage.tokens_in += resp.usage.prompt_tokens
                usage.tokens_out += resp.usage.completion_tokens
            message = resp.choices[0].message
            calls = [
                c
                for c in message.tool_calls or []
                if isinstance(c, ChatCompletionMessageFunctionToolCall)
            ]
            if not calls or step == steps:
                return message.content or ""
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {
                                "name": c.function.name,
                                "arguments": c.function.arguments,
                            },
                        }
                        for c in calls
                    ],
                }
            )
            for call in calls:
                result = await self._toolbox.execute(
                    prepared.ctx, call.function.name, call.function.arguments
                )
                record_call(usage, result)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": result.content}
                )
        return ""

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self._config.model,
            "temperature": self._config.temperature,
        }
        # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens
        limit = "max_completion_tokens" if self._config.base_url is None else "max_tokens"
        params[limit] = self._config.max_tokens
        return params
