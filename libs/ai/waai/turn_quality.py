"""How good one AI turn was, from what it saw and said: pure functions, no I/O.

A `turn_quality` event carries one `TurnQuality` per turn (see `wacommon.repositories.event_types`); the
daily metrics add them up. Whether a reply is grounded is `waai.grounding`'s. The heuristics are deliberately general (Portuguese, English and
Spanish function words, numbers and prices, contact facts): nothing here knows a business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from waai.turn_text import EMAIL, fold, informative_terms

# a re-sent message counts as repeated when it has at least this many informative words
MIN_REPEATED_WORDS: Final = 3

SILENT_REASONS: Final = (
    "empty_reply",  # the model answered nothing
    "stale",  # a newer message arrived while the model ran: the reply was dropped
    "opted_out",  # the customer opted out meanwhile
    "handed_over",  # a person took the conversation meanwhile
    "budget",  # the month's AI budget was exhausted
    "bot_off",  # the tenant switched the bot off meanwhile
    "error",  # the turn failed
    "other",
)
HANDOVER_CATEGORIES: Final = (
    "customer_asked",  # the customer asked for a person (or paused the bot)
    "no_answer",  # the knowledge base had no answer
    "complaint",  # an unhappy customer
    "tool_failure",  # a tool or the model failed
    "model_decided",  # the model handed over for another reason
    "budget",  # the month's AI budget ran out
    "staff",  # a person of the business took over (console, phone, operator)
    "other",
)

# a long run of digits with the separators people type (phone, CEP, CPF, CNPJ, order number)
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-/]{3,}\d")
_NAME = re.compile(
    r"(?:meu nome (?:e|é)|me chamo|pode me chamar de|aqui (?:e|é) (?:o|a)|my name is|"
    r"this is|mi nombre es|me llamo)\s+([^\W\d_]+(?:\s+[^\W\d_]{3,})?)",
    re.IGNORECASE | re.UNICODE,
)
_ADDRESS = re.compile(
    r"\b(?:rua|r\.|avenida|av\.?|alameda|travessa|estrada|rodovia|praca|praça|street|st\.)"
    r"\s+([^\d,\n]{3,40}?)[\s,]+(?:n[º°o.]?\s*)?(\d{1,5})\b",
    re.IGNORECASE | re.UNICODE,
)
# long enough to be an identifier, not a quantity (the 5-digit floor leaves years out)
_MIN_ID_DIGITS: Final = 5
# a phone with and without its country/area code is the same phone: compare by the end
_MIN_SUFFIX_DIGITS: Final = 8


@dataclass(frozen=True)
class TurnQuality:
    """The quality figures of one AI turn: what a `turn_quality` event records."""

    passages: int = 0
    documents: list[str] = field(default_factory=list)
    # None: nothing to judge (no passages retrieved, or a reply without informative words)
    grounded: bool | None = None
    tools: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_brl: float = 0.0
    # the model ran and nothing was sent: why (one of SILENT_REASONS)
    silent: str | None = None
    # the turn handed the conversation over: which kind (one of HANDOVER_CATEGORIES)
    handover: str | None = None
    repeated_info: bool = False

    def as_event(self) -> dict[str, Any]:
        """The event's `data`."""
        return asdict(self)


def facts(text: str) -> set[str]:
    """The facts a customer gives about themselves: email, long numbers, name, address."""
    folded = fold(text)
    found = {"email:" + e.strip(".") for e in EMAIL.findall(folded)}
    for run in _DIGIT_RUN.findall(EMAIL.sub(" ", folded)):
        digits = re.sub(r"\D", "", run)
        if len(digits) >= _MIN_ID_DIGITS:
            found.add("digits:" + digits)
    for match in _NAME.finditer(folded):
        found.add("name:" + " ".join(match.group(1).split()))
    for match in _ADDRESS.finditer(folded):
        found.add(f"address:{' '.join(match.group(1).split())} {match.group(2)}")
    return found


def _same_fact(a: str, b: str) -> bool:
    if a == b:
        return True
    if a.startswith("digits:") and b.startswith("digits:"):
        short, long = sorted((a[7:], b[7:]), key=len)
        return len(short) >= _MIN_SUFFIX_DIGITS and long.endswith(short)
    return False


def repeated_info(earlier_customer_messages: Iterable[str], message: str) -> bool:
    """Whether the customer gives again something they already gave in this conversation.

    The same email, phone, CEP, CPF, order number, name or address, or the same message word
    for word (a question re-sent because it was not answered).
    """
    now = facts(message)
    words = informative_terms(message)
    for earlier in earlier_customer_messages:
        if now and any(_same_fact(a, b) for a in now for b in facts(earlier)):
            return True
        if len(words) >= MIN_REPEATED_WORDS and words == informative_terms(earlier):
            return True
    return False


_CUSTOMER_ASKED = re.compile(
    r"pediu|pede|solicit|quer falar|quero falar|deseja falar|falar com|atendente|humano|"
    r"pessoa|gerente|vendedor|asked|request|wants? to (?:talk|speak)|human|agent|person|"
    r"customer_asked|customer_command|pidio|hablar con"
)
_NO_ANSWER = re.compile(
    r"nao sei|nao encontr|nao ha informa|sem informa|nao consta|nao tenho|fora d[oa] (?:escopo|"
    r"base)|no_answer|no answer|not in the knowledge|unknown|don't know|no information|"
    r"nao sabe|desconhec|nao posso responder"
)
_COMPLAINT = re.compile(
    r"reclama|insatisf|irritad|bravo|chatead|frustr|defeito|errad|atras|reembols|"
    r"estorno|cancel|procon|complain|angry|upset|refund|queja|molest"
)
_FAILURE = re.compile(r"erro|falh|error|fail|indispon|unavailable|timeout|exception")
_STAFF_PREFIXES: Final = ("console", "operator", "human_reply", "human_command", "human")


def handover_category(cause: str | None) -> str:
    """The kind of a handover's cause, one of HANDOVER_CATEGORIES.

    Causes are `conversation_state.handover`'s: `ai:<the model's reason>` (free text in any
    language), `customer_command`, `budget_exhausted`, `console`, `operator:<reason>`,
    `human_reply`, `human_command`; the offline bot's `customer_asked_for_human` and
    `no_answer_in_knowledge_base`.
    """
    text = fold((cause or "").strip())
    if not text:
        return "other"
    head, _, reason = text.partition(":")
    if head in _STAFF_PREFIXES:
        return "staff"
    if "budget" in text:
        return "budget"
    if head == "customer_command":
        return "customer_asked"
    said = reason if head == "ai" else text
    if said in ("requested", "ai_tool"):
        # the transfer tool's default reason: the model gave none
        return "model_decided"
    if _NO_ANSWER.search(said):
        return "no_answer"
    if _COMPLAINT.search(said):
        return "complaint"
    if _FAILURE.search(said):
        return "tool_failure"
    if _CUSTOMER_ASKED.search(said):
        return "customer_asked"
    if head == "ai":
        return "model_decided"
    return "other"


def silent_reason(why: str | None) -> str:
    """A dropped turn's `why` (pipeline words) as one of SILENT_REASONS."""
    text = fold(why or "")
    table = (
        ("stale", "stale"),
        ("newer", "stale"),
        ("superseded", "stale"),
        ("opt", "opted_out"),
        ("state_human", "handed_over"),
        ("handed", "handed_over"),
        ("human", "handed_over"),
        ("budget", "budget"),
        ("bot_off", "bot_off"),
        ("empty", "empty_reply"),
        ("error", "error"),
        ("fail", "error"),
    )
    for needle, reason in table:
        if needle in text:
            return reason
    return "other"
