"""Lead context from public form submissions (PRODUCT.md F2): a submission parsed into a `LeadForm`.

The gateway stores `LeadForm.as_context()` in `active_conversations.attributes["lead_context"]`;
`lead_text` turns it into the greeting and the prompt block. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

ATTRIBUTE = "lead_context"
MAX_FIELDS = 60
MAX_KEY_CHARS = 100
MAX_VALUE_CHARS = 500

# strong phone words match inside a key ("telefone_celular", "seu_whatsapp"); weak ones only alone
_PHONE_STRONG = ("telefone", "phone", "whatsapp", "celular", "fone", "mobile", "wpp", "zap")
_PHONE_WEAK = ("tel", "cel", "numero", "number", "contato", "phone_number", "telefone_whatsapp")
_NAME_KEYS = (
    "nome",
    "name",
    "nome_completo",
    "full_name",
    "seu_nome",
    "first_name",
    "primeiro_nome",
)
_NOT_PERSON = frozenset({"empresa", "company", "loja", "business", "usuario", "user", "produto"})
_TRACKING = ("gclid", "fbclid", "ttclid", "msclkid")
# keys an n8n webhook node puts around the submitted body
_N8N_KEYS = frozenset({"headers", "params", "query", "webhookUrl", "executionMode", "body"})
# nested objects whose fields count as the submission's own
_CONTAINERS = frozenset(
    {"fields", "answers", "respostas", "data", "form_data", "form_fields", "campos"}
)
_LIST_NAME_KEYS = ("name", "field", "key", "label", "title", "question")


class FormPayloadInvalid(ValueError):
    """The submission is not a JSON object (or a shape we know) with at least one field."""


class PhoneNotFound(ValueError):
    """No field of the submission holds a usable phone number."""


@dataclass(frozen=True)
class LeadForm:
    """A submission normalised: E.164 digits, string fields, UTMs apart."""

    phone: str
    fields: dict[str, str]
    utms: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    email: str | None = None
    source: str | None = None

    def as_context(self, received_at: str) -> dict[str, Any]:
        """The JSON stored on the conversation."""
        ctx: dict[str, Any] = {
            "phone": self.phone,
            "fields": self.fields,
            "utms": self.utms,
            "received_at": received_at,
        }
        for key in ("name", "email", "source"):
            value = getattr(self, key)
            if value:
                ctx[key] = value
        return ctx


def norm_key(key: str) -> str:
    """Lower case, no accents, words joined by '_' ("Qual seu Telefone?" -> "qual_seu_telefone")."""
    folded = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


def normalize_phone(value: Any) -> str | None:
    """E.164 digits (no '+'); Brazil's 55 added to national numbers of up to 11 digits."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = int(value)
    raw = str(value).strip()
    digits = re.sub(r"\D", "", raw)
    international = raw.startswith("+") or digits.startswith("00")
    digits = digits.lstrip("0")
    if not international and len(digits) <= 11:
        digits = "55" + digits
    return digits if 10 <= len(digits) <= 15 else None


def _text(value: Any) -> str:
    if isinstance(value, dict):
        for k in ("value", "answer", "label", "text"):
            if k in value:
                return _text(value[k])
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())[:MAX_VALUE_CHARS]
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)[:MAX_VALUE_CHARS]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "não"
    return _printable(str(value)).strip()[:MAX_VALUE_CHARS]


def _printable(text: str) -> str:
    """Control and format characters (bidi overrides, NUL) out; tabs and line breaks kept."""
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def _pairs_list(items: list[Any]) -> dict[str, Any] | None:
    """[{name|field|...: k, value: v}, ...] as {k: v}; None when the list is not of that shape."""
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or "value" not in item:
            return None
        label = next((item[k] for k in _LIST_NAME_KEYS if isinstance(item.get(k), str)), None)
        if label is None:
            return None
        out[label] = item["value"]
    return out


def _typeform(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], str | None]:
    resp = data["form_response"]
    titles = {
        f.get("id"): f.get("title") or f.get("ref")
        for f in (resp.get("definition") or {}).get("fields") or []
        if isinstance(f, dict)
    }
    fields: dict[str, Any] = {}
    for ans in resp.get("answers") or []:
        if not isinstance(ans, dict):
            continue
        fld = ans.get("field") or {}
        kind = str(ans.get("type") or "")
        label = titles.get(fld.get("id")) or fld.get("ref") or fld.get("id") or kind
        value = ans.get(kind)
        if kind == "choice" and isinstance(value, dict):
            value = value.get("label") or value.get("other")
        elif kind == "choices" and isinstance(value, dict):
            value = value.get("labels") or value.get("other")
        # typed answers keep a canonical key, whatever the question said
        canonical = {"phone_number": "telefone", "email": "email"}.get(kind)
        fields[canonical if canonical and canonical not in fields else str(label)] = value
    hidden = {k: _text(v) for k, v in (resp.get("hidden") or {}).items() if v}
    definition = resp.get("definition") or {}
    return fields, hidden, definition.get("title") or resp.get("form_id")


def _respondi(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], str | None]:
    form, resp = data["form"], data["respondent"]
    fields: dict[str, Any] = {}
    for item in resp.get("raw_answers") or []:
        if not isinstance(item, dict):
            continue
        q = item.get("question") or {}
        kind, answer = q.get("question_type"), item.get("answer")
        if kind == "phone" and isinstance(answer, dict):
            country = str(answer.get("country") or "55")
            answer = "+" + country + str(answer.get("phone") or "")
        if kind in ("phone", "email", "name") and answer:
            fields.setdefault({"phone": "telefone", "name": "nome"}.get(kind, kind), answer)
    answers = resp.get("answers")
    if isinstance(answers, dict):
        fields.update({k: v for k, v in answers.items() if k not in fields})
    utms = {k: _text(v) for k, v in (resp.get("respondent_utms") or {}).items() if v}
    return fields, utms, form.get("form_name") or form.get("form_id")


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """Top-level fields, plus those of nested answer containers not already present."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        inner = _pairs_list(value) if isinstance(value, list) else None
        if isinstance(value, dict) and not ({"value", "answer"} & set(value)):
            inner = value
        if inner is not None and norm_key(key) in _CONTAINERS:
            for k, v in inner.items():
                out.setdefault(str(k), v)
        else:
            out[str(key)] = value
    return out


def unwrap(data: Any) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """(fields, utms, form name) of any known payload shape."""
    if isinstance(data, list):
        pairs = _pairs_list(data)
        if pairs is not None:
            data = pairs
        elif len(data) == 1:
            data = data[0]
    if not isinstance(data, dict) or not data:
        raise FormPayloadInvalid("the body must be a non-empty JSON object or list of fields")
    if isinstance(data.get("body"), dict | list) and set(data) <= _N8N_KEYS:
        return unwrap(data["body"])
    if isinstance(data.get("form_response"), dict):
        return _typeform(data)
    if isinstance(data.get("respondent"), dict) and isinstance(data.get("form"), dict):
        return _respondi(data)
    return _flat(data), {}, None


def _find_phone(fields: dict[str, Any]) -> str | None:
    keyed = [(norm_key(k), v) for k, v in fields.items()]
    ranked = [v for k, v in keyed if k in _PHONE_STRONG or k in _PHONE_WEAK]
    ranked += [v for k, v in keyed if any(w in k for w in _PHONE_STRONG)]
    for value in ranked:
        phone = normalize_phone(value.get("value") if isinstance(value, dict) else value)
        if phone:
            return phone
    return None


def parse_submission(data: Any) -> LeadForm:
    """Normalise a form submission; raises FormPayloadInvalid or PhoneNotFound (with the reason)."""
    raw_fields, utms, source = unwrap(data)
    fields: dict[str, str] = {}
    for key, value in raw_fields.items():
        label = str(key).strip()[:MAX_KEY_CHARS]
        text = _text(value)
        if not label or not text:
            continue
        nk = norm_key(label)
        if nk.startswith("utm_") or nk in _TRACKING:
            utms.setdefault(nk, text)
        elif len(fields) < MAX_FIELDS:
            fields[label] = text
    if not fields:
        raise FormPayloadInvalid("the submission has no field with a value")
    phone = _find_phone(raw_fields)
    if phone is None:
        raise PhoneNotFound(
            "no phone number found: send it in a field named telefone, phone, whatsapp or celular "
            "(8 to 15 digits)"
        )
    by_key = {norm_key(k): v for k, v in fields.items()}
    name = next((by_key[k] for k in _NAME_KEYS if by_key.get(k)), None) or next(
        (v for k, v in by_key.items() if _names_a_person(k)), None
    )
    email = next((v for k, v in by_key.items() if "email" in k.replace("_", "") and "@" in v), None)
    return LeadForm(phone, fields, utms, name, email, source)


def _names_a_person(key: str) -> bool:
    words = key.split("_")
    return words[-1] in ("nome", "name") and not _NOT_PERSON & set(words)
