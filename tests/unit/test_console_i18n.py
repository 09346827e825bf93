"""The console's catalogs: same keys in both locales, every key the templates and the page
script use exists, and the locale negotiation."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from console.i18n import LOCALES, Translator, catalog, negotiate
from console.pages.metrics import CAUSES
from waai.turn_quality import HANDOVER_CATEGORIES, SILENT_REASONS
from wacommon.providers.meta.admin import VERTICALS

PKG = resources.files("console")
# t("key") / t('key') in templates; a key built from a variable ends with `.` or `_` before `~`
LITERAL = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["'](?!\s*~)""")
DYNAMIC = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+[._])["']\s*~""")
JS_KEY = re.compile(r"""\bT\(\s*["']([a-z0-9_]+)["']""")
# the values a dynamic key is completed with (the templates' own loops and the view data)
DYNAMIC_VALUES = {
    "filter.": ["human", "bot", "closed", "opted_out", "all"],
    "inbox.empty_": ["human", "bot", "closed", "opted_out", "all"],
    "state.": ["human", "bot", "closed", "opted_out"],
    "role.": ["owner", "agent", "operator"],
    "status.": ["unknown", "dropped", "cancelled"],
    "provider.": ["meta", "uazapi", "lancepilot"],
    "channels.state.": ["ok", "idle", "error", "inactive"],
    "error.": [],
    "metrics.field_": ["from", "to", "days"],
    "metrics.cause.": list(CAUSES),
    "metrics.silent.": list(SILENT_REASONS),
    "metrics.handover_kind.": list(HANDOVER_CATEGORIES),
    "kb.sync_": ["pending", "synced", "failed"],
    "kb.fs_state_": ["off", "on", "inactive"],
    "meta.profile_": ["about", "description", "address", "email", "websites", "vertical"],
    "meta.vertical_": sorted(VERTICALS - {"UNDEFINED"}),
    "lab.before_": ["bot", "human", "nobody"],
}


def templates() -> dict[str, str]:
    folder = PKG / "templates"
    return {f.name: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".html")}


def python_sources() -> dict[str, str]:
    folder = PKG / "pages"
    return {f.name: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".py")}


def test_both_catalogs_have_the_same_keys_and_no_empty_string() -> None:
    pt, en = catalog("pt-BR"), catalog("en")
    assert set(pt) == set(en), set(pt) ^ set(en)
    for locale in LOCALES:
        empty = [k for k, v in catalog(locale).items() if not v.strip()]
        assert empty == [], (locale, empty)


def test_placeholders_match_between_locales() -> None:
    pt, en = catalog("pt-BR"), catalog("en")
    for key, text in pt.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key


def test_every_key_used_in_templates_exists() -> None:
    keys = set(catalog("pt-BR"))
    used: set[str] = set()
    for name, text in templates().items():
        for key in LITERAL.findall(text):
            assert key in keys, f"{name}: {key}"
            used.add(key)
        for prefix in DYNAMIC.findall(text):
            assert prefix in DYNAMIC_VALUES, f"{name}: dynamic key {prefix}… not listed here"
            for value in DYNAMIC_VALUES[prefix]:
                assert prefix + value in keys, f"{name}: {prefix}{value}"
    assert len(used) > 100


def test_every_key_used_by_python_pages_exists() -> None:
    keys = set(catalog("pt-BR"))
    pattern = re.compile(r"""["']((?:reason|error|status)\.(?!html)[a-z_]+)["']""")
    for name, text in python_sources().items():
        for key in pattern.findall(text):
            assert key in keys, f"{name}: {key}"


def test_every_string_the_page_script_uses_exists() -> None:
    script = (PKG / "static" / "console.js").read_text("utf-8")
    used = set(JS_KEY.findall(script))
    assert "handover" in used and "throttled" in used
    for locale in LOCALES:
        strings = Translator(locale).js_strings()
        missing = sorted(used - set(strings))
        assert missing == [], (locale, missing)


def test_every_string_the_meta_channel_script_uses_exists() -> None:
    script = (PKG / "static" / "channels_meta.js").read_text("utf-8")
    used = set(JS_KEY.findall(script))
    # keys built from Graph's values: each status and category the page can meet
    built = {f"meta_status_{s}" for s in ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")}
    built |= {f"meta_category_{c}" for c in ("UTILITY", "MARKETING", "AUTHENTICATION")}
    assert "meta_signup_done" in used and "meta_preview_empty" in used
    for locale in LOCALES:
        strings = Translator(locale).js_strings()
        missing = sorted((used | built) - set(strings))
        assert missing == [], (locale, missing)


def test_catalog_files_are_plain_objects_of_strings() -> None:
    for name in ("pt_BR.json", "en.json"):
        data = json.loads((PKG / "locales" / name).read_text("utf-8"))
        assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())


@pytest.mark.parametrize(
    ("user_locale", "accept", "expected"),
    [
        (None, None, "pt-BR"),
        (None, "", "pt-BR"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "de-DE,en;q=0.5,pt-BR;q=0.8", "pt-BR"),
        (None, "fr, de", "pt-BR"),
        (None, "pt-PT", "pt-BR"),
        (None, "en;q=0, pt;q=0.1", "pt-BR"),
        ("en", "pt-BR", "en"),
        ("pt-BR", "en", "pt-BR"),
        ("xx", "en", "en"),
    ],
)
def test_negotiation(user_locale: str | None, accept: str | None, expected: str) -> None:
    assert negotiate(user_locale, accept) == expected


def test_translation_fills_placeholders_and_falls_back() -> None:
    t = Translator("en")
    assert t("js.throttled", s=30) == "Too many attempts. Try again in 30 seconds."
    assert Translator("pt-BR")("inbox.assigned_to", name="Ana") == "Com Ana"
    assert t("no.such.key") == "no.such.key"


def test_an_owners_handover_alert_names_the_reason_in_portuguese() -> None:
    from wacommon.conversation.handover_alerts import cause_text

    assert cause_text("customer_asked_for_human") == "o cliente pediu um atendente"
    assert cause_text("no_answer_in_knowledge_base") == "o assistente não encontrou a resposta"
    # a model's own reason is already words: kept as it is
    assert cause_text("quer negociar desconto") == "quer negociar desconto"


def test_every_settings_label_exists_in_both_locales() -> None:
    from console.pages.settings_layout import label_keys

    for locale in LOCALES:
        missing = [k for k in label_keys() if k not in catalog(locale)]
        assert missing == [], (locale, missing)
