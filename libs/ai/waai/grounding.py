"""Whether a reply rests on the passages it was given: most of what it says is in them and
no price it states is missing from them. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from waai.turn_text import NUMBER, PRICE, fold, informative_terms, number_key

# a reply counts as grounded when at least this share of its informative words is found in
# the passages it was given (and no price it states is missing from them)
GROUNDED_SHARE: Final = 0.5
# fewer informative words than this: a greeting or a thanks, nothing to ground
MIN_INFORMATIVE: Final = 3


def _passage_text(passage: Any) -> str:
    if isinstance(passage, str):
        return passage
    if isinstance(passage, Mapping):
        return str(passage.get("text") or "")
    return str(getattr(passage, "text", "") or "")


def grounding_share(reply_text: str, passages: Iterable[Any]) -> float | None:
    """The share of the reply's informative terms found in the passages; None: nothing to judge.

    `passages` are texts, `{"text": ...}` mappings or objects with a `text`.
    """
    source = " ".join(_passage_text(p) for p in passages)
    if not source.strip():
        return None
    said = informative_terms(reply_text)
    if len(said) < MIN_INFORMATIVE:
        return None
    known = informative_terms(source)
    return len(said & known) / len(said)


def grounded(reply_text: str, passages: Iterable[Any]) -> bool:
    """Whether the reply rests on the passages: most of what it says is in them, no price is not.

    A reply with nothing to judge (no passages, a bare greeting) is not grounded.
    """
    passages = list(passages)
    share = grounding_share(reply_text, passages)
    if share is None or share < GROUNDED_SHARE:
        return False
    source = fold(" ".join(_passage_text(p) for p in passages))
    known_numbers = {number_key(n) for n in NUMBER.findall(source)}
    stated_prices = {number_key(p) for p in PRICE.findall(fold(reply_text))}
    return stated_prices <= known_numbers


def judge_grounded(reply_text: str, passages: Sequence[Any]) -> bool | None:
    """`grounded`, or None when there is nothing to judge (no passages, no informative words)."""
    if grounding_share(reply_text, passages) is None:
        return None
    return grounded(reply_text, passages)
