"""Parsing a tenant: defaults, unknown keys kept, secrets masked, malformed sections."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from wacommon.infra.crypto import SecretBox
from wacommon.tenants.config import STORED_AS, TenantConfig, parse_tenant
from wacommon.tenants.sections.base import WHOLE

BOX = SecretBox("unit-key")


def invalid_count(section: str) -> float:
    value = REGISTRY.get_sample_value("wa_tenant_config_invalid_total", {"section": section})
    return value or 0.0


def test_an_empty_tenant_gets_the_defaults_the_helpers_applied() -> None:
    config = parse_tenant({"id": "t1", "name": "Loja"})
    assert (config.id, config.name, config.bot_active, config.timezone) == (
        "t1",
        "Loja",
        True,
        "America/Sao_Paulo",
    )
    assert config.debounce is None and config.contact_filter is None
    assert config.mark_read and not config.groups_enabled
    assert config.llm.provider is None and config.llm.invalid == ()
    assert config.commands.enabled and config.commands.customer_can_reset
    assert not config.commands.customer_can_resume
    assert not config.hours.active and config.hours.mode == "dentro"
    assert not config.forms.active and config.forms.secret is None


def test_secrets_are_opened_into_secret_strings_and_never_shown() -> None:
    sealed = BOX.seal({"llm_config": {"api_key": "sk-tenant"}, "form_context": {"secret": "s3"}})
    assert sealed["llm_config"]["api_key"].startswith("enc:")
    config = parse_tenant({"id": "t", "tools_config": sealed}, BOX.open)
    assert config.llm.api_key is not None
    assert config.llm.api_key.get_secret_value() == "sk-tenant"
    assert config.forms.secret is not None and config.forms.secret.get_secret_value() == "s3"
    shown = repr(config) + config.model_dump_json()
    assert "sk-tenant" not in shown and 's3"' not in shown


def test_unknown_keys_are_kept_but_not_typed() -> None:
    tools: dict[str, Any] = {
        "consultar_cep": True,
        "sgp_tools": {"sgp_url": "http://x"},
        "llm_config": {"model": "gpt-4o", "seed_only": 1},
    }
    config = parse_tenant({"id": "t", "tools_config": tools})
    assert config.tools_config["consultar_cep"] is True
    assert config.tools_config["sgp_tools"] == {"sgp_url": "http://x"}
    assert config.llm.model == "gpt-4o" and config.llm.model_extra == {"seed_only": 1}


def test_a_malformed_value_takes_its_default_with_a_counted_warning() -> None:
    before = invalid_count("debounce")
    config = parse_tenant(
        {
            "id": "t",
            "tools_config": {"debounce": {"quiet_seconds": "x", "max_wait_seconds": "12"}},
        }
    )
    assert config.debounce is not None
    assert config.debounce.invalid == ("quiet_seconds",)
    # the readable values of the section survive the unreadable one
    assert config.debounce.quiet_seconds is None and config.debounce.max_wait_seconds == 12.0
    assert invalid_count("debounce") == before + 1


def test_a_section_that_is_not_an_object_falls_back_whole_and_the_tenant_still_loads() -> None:
    before = invalid_count("llm")
    config = parse_tenant({"id": "t", "tools_config": {"llm_config": "gpt", "commands": ["#stop"]}})
    assert config.llm.invalid == (WHOLE,) and config.commands.invalid == (WHOLE,)
    assert config.commands.enabled
    assert invalid_count("llm") == before + 1


def test_tools_config_keeps_every_key_opened_for_the_code_that_reads_its_own() -> None:
    sealed = BOX.seal({"llm_config": {"api_key": "sk-x"}, "consultar_cep": True})
    config = parse_tenant({"id": "t", "name": "N", "tools_config": sealed}, BOX.open)
    assert config.tools_config == {"llm_config": {"api_key": "sk-x"}, "consultar_cep": True}


def test_every_section_says_where_it_is_stored() -> None:
    typed = set(TenantConfig.model_fields) - {
        "id",
        "name",
        "system_prompt",
        "bot_active",
        "timezone",
        "human_attendant_timeout",
        "whatsapp_provider",
        "tools_config",
        "followup_config",
        "groups_enabled",
        "followups",
    }
    assert typed == set(STORED_AS)
