"""Every tenant configuration written literally in the tests and scripts, plus edge cases.

The tests and fixtures hold the configurations the product was tested with; reading them
from the source keeps this corpus growing with the tests instead of a copy that drifts.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SECTION_KEYS = frozenset(
    {
        "llm_config",
        "debounce",
        "security_lists",
        "groups_enabled",
        "mark_read",
        "commands",
        "business_hours",
        "atendimento_humano",
        "desativar_ia",
        "form_context",
    }
)
# values the seed's panel and hand-edited JSON produced, and values no helper should choke on
EDGE_CASES: list[dict[str, Any]] = [
    {},
    {"llm_config": "not an object"},
    {"llm_config": []},
    {"llm_config": {"temperature": "hot"}},
    {"llm_config": {"history_messages": "muitas", "history_hours": "2"}},
    {"llm_config": {"history_messages": "", "history_hours": ""}},
    {"llm_config": {"history_messages": True, "max_tokens": "300"}},
    {"llm_config": {"provider": "GEMINI", "model": "  ", "base_url": 5}},
    {"llm_config": {"provider": "claude"}},
    {"llm_config": {"provider": "openai", "base_url": " http://local/v1 ", "api_key": ""}},
    {"llm_config": {"provider": "openai", "api_key": 12345}},
    {"llm_config": {"provider": " OpenRouter ", "model": "meta/llama", "query_rewrite": True}},
    {"llm_config": {"provider": "openai_compatible", "base_url": "https://llm.example/v1"}},
    {"llm_config": {"provider": "openai_compatible", "model": "m"}},
    {"llm_config": {"provider": "openai", "base_url": "http://10.0.0.5/v1", "api_key": "k"}},
    {"llm_config": {"provider": "openai", "base_url": "https://127.0.0.1/v1", "api_key": "k"}},
    {"llm_config": {"provider": "  ", "api_key": "k"}},
    {"llm_config": {"query_rewrite": "yes", "temperature": "x"}},
    {"llm_config": {"provider": "gemini", "api_key": "g", "query_rewrite": "yes"}},
    {"llm_config": {"provider": "gemini", "api_key": "g", "embedding_model": " off "}},
    {"llm_config": {"provider": "gemini", "api_key": "g", "max_tokens": "x", "query_rewrite": 1}},
    {"debounce": None},
    {"debounce": 5},
    {"debounce": {"quiet_seconds": "2.5", "max_wait_seconds": "1"}},
    {"debounce": {"quiet_seconds": "x", "max_wait_seconds": None, "max_burst": "7"}},
    {"debounce": {"quiet_seconds": -3, "max_burst": 0, "flush_keywords": "Pronto, ok ,"}},
    {"debounce": {"max_burst": "2.5", "flush_keywords": [1, " Fim "]}},
    {"debounce": {"max_wait_seconds": ""}},
    {"security_lists": "5511999990000"},
    {"security_lists": {"active": "false", "blocked_numbers": "11999990000"}},
    {"security_lists": {"active": False, "blocked_numbers": ["11999990000"]}},
    {"security_lists": {"allowed_numbers": "11999990000; 21988887777", "blocked_numbers": 7}},
    {"groups_enabled": "yes"},
    {"groups_enabled": 0},
    {"mark_read": False},
    {"mark_read": "false"},
    {"mark_read": None},
    {"commands": {"enabled": "no", "pause": "#humano, #atendente", "resume": 5}},
    {"commands": {"pause_hours": None, "customer_can_resume": "sim", "replies": []}},
    {"commands": {"pause_hours": "0", "replies": {"pause": "", "reset": 0, "resume": "Ok"}}},
    {"commands": {"opt_out_phrases": "chega, fim", "customer_can_reset": 0}},
    {"atendimento_humano": {"timeout_minutes": "30"}, "desativar_ia": {"instructions": "pare"}},
    {"atendimento_humano": {"timeout_minutes": "meia hora", "permanent_on_human_reply": "sim"}},
    {"atendimento_humano": {"timeout_minutes": True}, "desativar_ia": {"instructions": None}},
    {"atendimento_humano": {"timeout_minutes": [5]}, "desativar_ia": "pare"},
    {"atendimento_humano": "30", "desativar_ia": {"instructions": "Assumi, PARE ,"}},
    {"atendimento_humano": {"timeout_minutes": " ", "permanent_on_human_reply": 0}},
    {"form_context": True},
    {"form_context": "sim"},
    {"form_context": {"active": "true", "send_greeting": 1, "greeting": 0, "secret": 5}},
    {
        "form_context": {
            "active": True,
            "send_greeting": True,
            "greeting": "Olá {{nome}}",
            "template": {"name": "boas_vindas", "language": "pt_BR"},
            "secret": "s3cr3t",
            "rate_limit_per_minute": 5,
            "greeting_cooldown_hours": 0,
        }
    },
    {"form_context": {"rate_limit_per_minute": True, "greeting_cooldown_hours": -1}},
    {
        "form_context": {
            "rate_limit_per_minute": 2.5,
            "greeting_cooldown_hours": "2",
            "template": {},
        }
    },
    {"business_hours": "sim"},
    {"business_hours": {"active": "sim", "mode": None, "off_message": "Fechado"}},
    {
        "business_hours": {
            "active": True,
            "mode": "FORA",
            "schedule": {"Segunda": {"start": "9", "end": "18:00"}, "sab": "x"},
            "holidays": "2030-01-07",
            "on_message": "Aberto, fale com a loja",
        }
    },
    {
        "business_hours": {
            "active": 1,
            "schedule": {
                "seg": {"on": "sim", "start": "08:00", "end": "24:00"},
                "sex": {"start": "22:00", "end": "02:00"},
                "dom": {"on": False},
            },
            "holidays": ["01-06", {"date": "2030-01-11"}, "bad"],
            "off_message": "Volte amanhã",
        }
    },
]


def _literal_dicts(tree: ast.AST) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if not isinstance(value, dict):
            continue
        inner = value.get("tools_config")
        if isinstance(inner, dict):
            found.append(inner)
        elif SECTION_KEYS.intersection(k for k in value if isinstance(k, str)):
            found.append(value)
    return found


def tools_configs() -> list[dict[str, Any]]:
    """The edge cases, then every literal configuration under tests/ and scripts/."""
    corpus = list(EDGE_CASES)
    for folder in ("tests", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "corpus.py":
                continue
            corpus.extend(_literal_dicts(ast.parse(path.read_text("utf-8"))))
    for path in sorted((ROOT / "tests" / "data").rglob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("tools_config"), dict):
            corpus.append(data["tools_config"])
    return corpus


FOLLOWUP_EDGE_CASES: list[Any] = [
    None,
    {},
    {"active": "sim", "stages": "x"},
    {"active": True, "stages": [{"delay_minutes": "15", "prompt": "Oi?"}, "bad", {}]},
    {
        "active": 1,
        "max_stages": 1,
        "stages": [
            {"type": "AUDIO", "audio_url": "http://a/x.ogg", "delay_minutes": -5},
            {"text": "Volte!", "delay_minutes": "nan", "template": {"name": "t1"}},
        ],
        "allowed_hours": {"enabled": True, "start": "09:00"},
        "conversion_window_hours": "1e9",
        "reminder_template": {"name": "lembrete"},
    },
    {"active": True, "max_stages": True, "stages": [{"message": 5}, {"instruction": None}]},
    {"active": "true", "max_stages": -1, "stages": [{"template": {"language": "pt"}}]},
    {"active": False, "stages": [{"delay_minutes": None}], "allowed_hours": [1]},
    {"active": True, "stages": {"a": 1}, "conversion_window_hours": None},
    {"active": True, "stages": [{"media_url": 0, "audio_url": "u", "type": None}]},
]


def followup_configs() -> list[Any]:
    """The edge cases, then every literal `followup_config` (a dict with `stages`) in tests/."""
    corpus = list(FOLLOWUP_EDGE_CASES)
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "corpus.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            try:
                value = ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict) and isinstance(value.get("followup_config"), dict):
                corpus.append(value["followup_config"])
            elif isinstance(value, dict) and "stages" in value:
                corpus.append(value)
    return corpus
