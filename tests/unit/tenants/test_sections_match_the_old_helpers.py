"""The typed sections decide exactly what the old parse helpers decided, config by config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lancepilot_ingest.outcome import debounce_config
from meta_gateway.form_config import FormConfig
from tests.unit.tenants import legacy_helpers as old
from tests.unit.tenants.corpus import followup_configs, tools_configs
from waai import context_window
from waai.llm.config import AISettings, LLMConfigInvalid, llm_config, llm_config_of
from wacommon.broker.schemas import Provider, utcnow
from wacommon.conversation.business_hours import business_hours_decision
from wacommon.conversation.commands import CommandAction, parse_customer_command
from wacommon.conversation.commands import _reply as commands_reply
from wacommon.conversation.followups import parse_plan, plan_of
from wacommon.conversation.human_reply import human_pause_until
from wacommon.infra.crypto import SecretBox
from wacommon.tenants.config import TenantConfig, parse_tenant
from wacommon.tenants.contact_filter import contact_allowed

CORPUS = tools_configs()
BOX = SecretBox("unit-key")
DEFAULTS = [
    AISettings(),
    AISettings(llm_provider="openai", openai_api_key="sk-global", openai_base_url="http://o"),
    AISettings(llm_provider="gemini", gemini_api_key="g-global"),
    AISettings(llm_provider="openrouter", openrouter_api_key="or-global", query_rewrite=True),
]
HOURS = [(3, 0), (11, 30), (13, 0), (21, 45)]
PHONES = [None, "5511999990000", "11999990000@s.whatsapp.net", "5521988887777", "14155550100"]


def tenant(tools: dict[str, Any]) -> TenantConfig:
    return parse_tenant({"id": "t", "tools_config": tools})


def test_the_corpus_holds_the_tests_configurations() -> None:
    # the edge cases alone are 27; the rest come from the tests' own tenants
    assert len(CORPUS) > 40
    assert sum("llm_config" in c for c in CORPUS) > 10


@pytest.mark.parametrize("tools", CORPUS)
def test_debounce_matches(tools: dict[str, Any]) -> None:
    section = tenant(tools).debounce
    for provider in (Provider.META, Provider.UAZAPI):
        new = debounce_config(provider, section)
        expected = old.debounce_ms(tools, provider is Provider.META)
        assert (new.quiet_ms, new.max_wait_ms, new.max_burst, new.flush_keywords) == expected


@pytest.mark.parametrize("tools", CORPUS)
def test_history_window_and_overdue_match(tools: dict[str, Any]) -> None:
    config = tenant(tools)
    assert context_window.window(config.llm) == old.window(tools)
    limit = old.max_wait_s(tools)
    now = utcnow()
    assert context_window.overdue(config.debounce, now - timedelta(seconds=limit + 1))
    assert not context_window.overdue(
        config.debounce, now + timedelta(seconds=1) - timedelta(seconds=limit)
    )


@pytest.mark.parametrize("tools", CORPUS)
def test_llm_config_matches(tools: dict[str, Any]) -> None:
    section = tenant(tools).llm
    for defaults in DEFAULTS:
        expected = outcome(lambda d=defaults: old.llm_config(tools, d, BOX.decrypt))
        assert outcome(lambda d=defaults: llm_config(tools, d, BOX.decrypt)) == expected
        assert outcome(lambda d=defaults: llm_config_of(section, d)) == expected


def outcome(read: Any) -> Any:
    """The config, or the refusal's message and reason (what the event and metric carry)."""
    try:
        return read()
    except LLMConfigInvalid as exc:
        return ("refused", str(exc), exc.reason)


@pytest.mark.parametrize("tools", CORPUS)
def test_contact_filter_and_mark_read_match(tools: dict[str, Any]) -> None:
    config = tenant(tools)
    for phone in PHONES:
        for group in (False, True):
            new = contact_allowed(config.contact_filter, config.groups_enabled, phone, group)
            assert new == old.contact_allowed(tools, phone, group)
    assert config.mark_read is old.mark_read(tools)


TEXTS = [
    "#stop",
    "#ATIVAR agora",
    "#reset",
    "#parar",
    "#humano",
    "fim",
    "não quero mais receber mensagens",
    "eu nao quero mais receber mensagens",
    "oi, tudo bem?",
    "",
]


@pytest.mark.parametrize("tools", CORPUS)
def test_commands_match(tools: dict[str, Any]) -> None:
    section = tenant(tools).commands
    for text in TEXTS:
        assert parse_customer_command(text, section) == old.parse_customer_command(text, tools)
    for action in CommandAction:
        assert commands_reply(section, action) == old.command_reply(tools, action)
    assert section.pause_hours == old.pause_hours(tools)


INSTANTS = [datetime(2030, 1, d, h, m, tzinfo=UTC) for d in (6, 7, 11, 12) for h, m in HOURS]


@pytest.mark.parametrize("tools", CORPUS)
def test_business_hours_match(tools: dict[str, Any]) -> None:
    hours = tenant(tools).hours
    for now in INSTANTS:
        for tz in ("America/Sao_Paulo", "UTC"):
            assert business_hours_decision(hours, now, tz) == old.business_hours_decision(
                tools, now, tz
            )


HUMAN_TEXTS = [None, "", "Pode deixar comigo", "vou assumir, PARE o robô", "🛑", "none"]


@pytest.mark.parametrize("tools", CORPUS)
def test_handover_pause_matches(tools: dict[str, Any]) -> None:
    now = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
    for timeout_s in (None, 0, 600):
        for text in HUMAN_TEXTS:
            assert human_pause_until(tools, timeout_s, now, text) == old.human_pause_until(
                tools, timeout_s, now, text
            )


@pytest.mark.parametrize("tools", CORPUS)
def test_form_config_matches(tools: dict[str, Any]) -> None:
    cfg = FormConfig.of(tenant(tools).forms, 30)
    got = (
        cfg.active,
        cfg.send_greeting,
        cfg.greeting,
        cfg.template,
        cfg.secret,
        cfg.rate_per_minute,
        cfg.cooldown_hours,
    )
    assert got == old.form_config(tools, 30)


FOLLOWUPS = followup_configs()


def test_the_followup_corpus_holds_the_tests_plans() -> None:
    assert len(FOLLOWUPS) > 15


@pytest.mark.parametrize("config", FOLLOWUPS)
def test_followup_plan_matches(config: Any) -> None:
    expected = old.parse_plan(config)
    assert parse_plan(config) == expected
    typed = parse_tenant({"id": "t", "followup_config": config}).followups
    assert plan_of(typed) == expected
