"""Per-tenant LLM configuration and what the system prompt carries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest import mock

import pytest

from waai.llm.config import AISettings, LLMConfigInvalid, llm_config
from waai.llm.prompt import system_prompt
from waai.responders.responder import Tenant
from waai.tools.registry import ToolSpec
from wacommon.infra.crypto import SecretBox

BOX = SecretBox("unit-key")


def test_tenant_key_is_decrypted_and_overrides_the_global_one() -> None:
    cfg = llm_config(
        {
            "llm_config": {
                "provider": "openai",
                "api_key": BOX.encrypt("sk-t"),
                "temperature": "0.1",
                "history_messages": 8,
            }
        },
        AISettings(openai_api_key="sk-global", openai_base_url="http://o"),
        BOX.decrypt,
    )
    assert (cfg.provider, cfg.api_key, cfg.base_url, cfg.model) == (
        "openai",
        "sk-t",
        "http://o",
        "gpt-4o-mini",
    )
    assert (cfg.temperature, cfg.history_messages, cfg.history_hours) == (0.1, 8, 24.0)


def test_global_key_and_default_provider() -> None:
    defaults = AISettings(llm_provider="gemini", gemini_api_key="g", gemini_model="gem")
    cfg = llm_config({}, defaults, BOX.decrypt)
    assert (cfg.provider, cfg.api_key, cfg.model) == ("gemini", "g", "gem")


def test_no_model_is_offline_a_model_without_key_is_misconfigured() -> None:
    assert llm_config({}, AISettings(), BOX.decrypt).provider == "offline"
    with pytest.raises(LLMConfigInvalid) as missing:
        llm_config({"llm_config": {"provider": "openai"}}, AISettings(), BOX.decrypt)
    assert missing.value.reason == "missing_key"
    with pytest.raises(LLMConfigInvalid) as deployment:
        llm_config({}, AISettings(llm_provider="gemini"), BOX.decrypt)
    assert deployment.value.reason == "missing_key"


def test_openrouter_maps_to_the_openai_client_at_openrouter() -> None:
    key = BOX.encrypt("sk-or")
    cfg = llm_config(
        {"llm_config": {"provider": "OpenRouter", "api_key": key}}, AISettings(), BOX.decrypt
    )
    assert (cfg.provider, cfg.vendor, cfg.base_url, cfg.model, cfg.api_key) == (
        "openai",
        "openrouter",
        "https://openrouter.ai/api/v1",
        "openai/gpt-4o-mini",
        "sk-or",
    )
    own = llm_config(
        {"llm_config": {"provider": "openrouter", "base_url": "https://proxy/v1", "model": "m"}},
        AISettings(openrouter_api_key="sk-global"),
        BOX.decrypt,
    )
    assert (own.base_url, own.model, own.api_key) == ("https://proxy/v1", "m", "sk-global")
    compatible = llm_config(
        {
            "llm_config": {
                "provider": "openai_compatible",
                "base_url": "http://vllm:8000/v1",
                "model": "q",
            }
        },
        # a server in the operator's network is reachable once the operator names it
        AISettings(tool_allowed_hosts=frozenset({"vllm"})),
        BOX.decrypt,
    )
    assert (compatible.provider, compatible.base_url, compatible.api_key) == (
        "openai",
        "http://vllm:8000/v1",
        "not-needed",
    )
    with pytest.raises(LLMConfigInvalid) as no_model:
        llm_config(
            {"llm_config": {"provider": "openai_compatible", "base_url": "https://vllm/v1"}},
            AISettings(),
            BOX.decrypt,
        )
    assert no_model.value.reason == "missing_model"
    assert _from_env({"LLM_PROVIDER": "openrouter"}).llm_provider == "openrouter"


def test_a_self_hosted_server_needs_no_key() -> None:
    local = llm_config(
        {"llm_config": {"provider": "openai", "base_url": "http://llm:8000/v1", "model": "qwen"}},
        AISettings(tool_allowed_hosts=frozenset({"llm"})),
        BOX.decrypt,
    )
    assert (local.provider, local.base_url, local.model) == ("openai", "http://llm:8000/v1", "qwen")


@pytest.mark.parametrize(
    "url",
    [
        "http://llm.example.com/v1",  # not https
        "https://user:pw@llm.example.com/v1",  # credentials in the URL
        "https://10.0.0.5/v1",  # a private address
        "https://[::ffff:127.0.0.1]/v1",  # loopback in IPv6 form
        "https://169.254.169.254/v1",  # cloud metadata
    ],
)
def test_a_tenant_base_url_into_the_private_network_is_refused(url: str) -> None:
    # names are checked by the guarded client when the connection opens; these are refused
    # before any request, with the reason the llm_misconfigured event carries
    with pytest.raises(LLMConfigInvalid) as refused:
        llm_config(
            {"llm_config": {"provider": "openai_compatible", "base_url": url, "model": "m"}},
            AISettings(),
            BOX.decrypt,
        )
    assert refused.value.reason == "base_url_blocked"


def test_the_operators_own_base_url_is_trusted() -> None:
    # OPENAI_BASE_URL is the operator's choice (a gateway in its network): a tenant naming
    # the same host is not refused
    cfg = llm_config(
        {"llm_config": {"provider": "openai", "base_url": "http://gateway:4000/v1"}},
        AISettings(openai_api_key="sk", openai_base_url="http://gateway:4000/v1"),
        BOX.decrypt,
    )
    assert cfg.base_url == "http://gateway:4000/v1"


def test_invalid_config_is_refused() -> None:
    with pytest.raises(LLMConfigInvalid) as unknown:
        llm_config({"llm_config": {"provider": "claude"}}, AISettings(), BOX.decrypt)
    assert unknown.value.reason == "unknown_provider"
    with pytest.raises(LLMConfigInvalid):
        llm_config(
            {"llm_config": {"provider": "gemini", "temperature": "hot"}},
            AISettings(gemini_api_key="k"),
            BOX.decrypt,
        )


def _from_env(env: dict[str, str]) -> AISettings:
    with mock.patch.dict(os.environ, env, clear=True):
        return AISettings(_env_file=None)  # type: ignore[call-arg]


def test_settings_from_env() -> None:
    s = _from_env(
        {
            "OPENAI_API_KEY": "sk",
            "LLM_MAX_TOOL_STEPS": "3",
            "TOOL_ALLOWED_HOSTS": "ERP.local, 10.0.0.5",
            "LLM_TIMEOUT_S": "12.5",
            "LLM_PROVIDER": "openai",
        }
    )
    assert (s.openai_api_key, s.llm_max_tool_steps, s.llm_timeout_s, s.llm_provider) == (
        "sk",
        3,
        12.5,
        "openai",
    )
    assert s.tool_allowed_hosts == frozenset({"erp.local", "10.0.0.5"})


@dataclass(frozen=True)
class P:
    document: str
    text: str
    score: float


def test_system_prompt_has_persona_time_passages_and_tools() -> None:
    tenant = Tenant(
        id="t",
        name="Pizzaria Bella",
        system_prompt="Você é a Bella.",
        timezone="America/Manaus",
        tools_config={},
    )
    now = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)  # 12:30 in Manaus (UTC-4)
    prompt = system_prompt(
        tenant,
        now=now,
        passages=[P("cardapio.pdf", "Pizza grande R$ 50", 1)],
        tools=[ToolSpec("lookup_cep", "Endereço do CEP.", {})],
        tool_instructions={"lookup_cep": "Use para calcular o frete."},
        contact_name="Rui",
    )
    assert prompt.startswith("Você é a Bella.")
    assert "terça-feira, 10/03/2026 12:30 (fuso America/Manaus)" in prompt
    assert "[cardapio.pdf] Pizza grande R$ 50" in prompt
    assert "- lookup_cep: Endereço do CEP. Use para calcular o frete." in prompt
    assert "Rui" in prompt
    empty = system_prompt(tenant, now=now, passages=[], tools=[], tool_instructions={})
    assert "Nenhum trecho" in empty and "Ferramentas" not in empty


def test_the_persona_set_in_the_console_reaches_the_system_prompt() -> None:
    persona = {"business_type": "food", "tone": "descontraído", "greeting": "Oi! Aqui é a Bella."}
    tenant = Tenant(
        id="t1",
        name="Pizzaria",
        system_prompt="Você é a Bella.",
        timezone="America/Sao_Paulo",
        tools_config={"persona": persona},
    )
    now = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)
    prompt = system_prompt(tenant, now=now, passages=[], tools=[], tool_instructions={})
    lines = prompt.split("\n\n")
    assert lines[:4] == [
        "Você é a Bella.",
        "Ramo do negócio: alimentação.",
        "Tom das respostas: descontraído.",
        "Na primeira resposta de uma conversa nova, cumprimente o cliente com: Oi! Aqui é a Bella.",
    ]
    plain = Tenant("t1", "Pizzaria", "Você é a Bella.", "America/Sao_Paulo", {})
    assert (
        system_prompt(plain, now=now, passages=[], tools=[], tool_instructions={})
        .split("\n\n")[1]
        .startswith("Agora:")
    )


def test_settings_come_from_dotenv_and_refuse_an_unknown_provider(tmp_path: object) -> None:
    from pathlib import Path

    from pydantic import ValidationError

    env_file = Path(str(tmp_path)) / ".env"
    env_file.write_text("LLM_PROVIDER=gemini\nGEMINI_API_KEY=g\nTOOL_ALLOWED_HOSTS=CRM.local\n")
    with mock.patch.dict(os.environ, {}, clear=True):
        s = AISettings(_env_file=env_file)  # type: ignore[call-arg]
    # `make run` keeps the model key in .env: the rag-worker must see it
    assert (s.llm_provider, s.gemini_api_key, s.tool_allowed_hosts) == (
        "gemini",
        "g",
        frozenset({"crm.local"}),
    )
    with pytest.raises(ValidationError, match="LLM_PROVIDER must be one of"):
        _from_env({"LLM_PROVIDER": "anthropic"})
