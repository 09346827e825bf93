"""The words of a turn that carry information: folded (lower case, no accents), function
words of Portuguese, English and Spanish dropped, content words stemmed by their first
letters, numbers spelt one way. What grounding and repetition compare."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# words are compared by their first letters, so "entregamos" meets "entrega"
STEM_CHARS: Final = 6

# function words and conversational filler of Portuguese, English and Spanish
_STOPWORD_TEXT: Final = """
    a o e é as os um uma uns umas de do da dos das no na nos nas em ao aos à às por pelo pela
    pelos pelas para pra pro com sem que se ou mas mais menos muito muita muitos muitas ja
    já nao não sim seu sua seus suas meu minha meus minhas nosso nossa nossos nossas voce você
    voces vocês ele ela eles elas eu nos nós isso isto esse essa esses essas este esta estes
    estas aquele aquela aqui ali la lá tambem também como quando onde qual quais quem porque
    pois entao então ate até sobre entre cada todo toda todos todas tudo nada algum alguma
    alguns algumas outro outra outros outras mesmo mesma ser estar ter haver foi sao são era
    esta está estao estão tem têm temos tenho ha há vai vou vamos pode podem posso podemos
    poderia gostaria queria quer quero fazer faz feito seria sera será fica ficar pelo
    ola olá oi bom boa dia tarde noite obrigado obrigada obrigadx valeu claro certo certeza
    perfeito otimo ótimo legal beleza tudo bem ajudar ajuda ajudo posso alguma coisa mais
    qualquer duvida dúvida duvidas dúvidas disposicao disposição favor gentileza aguardo
    informar informacao informação informações informacoes sabe saber agradeco agradeço
    desculpe desculpa momento entendi entendo vejo veja olha
    the an and or but of to in on at for with without from by is are was were be been being
    have has had do does did will would can could should may might this that these those it
    its you your we our they their he she his her i me my not no yes as if so than then there
    here what which who whom when where why how all any some each more most other such only
    own same too very just also hello hi thanks thank please sure great happy help anything
    else let know glad welcome
    el la los las un una unos unas y o pero del al en con sin por para es son fue ser estar
    hay tiene tienen que como cuando donde quien cual su sus mi mis tu tus nuestro usted ustedes
    hola gracias claro bueno buenas puedo ayudar algo mas
"""
_STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# 49,90 / 1.250,00 / 18h / 10 / 3x: the digits and their decimal part, separators dropped
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
PRICE = re.compile(r"(?:r\$|us\$|\$|€)\s*(\d+(?:[.,]\d+)*)", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def fold(text: str) -> str:
    """Lower case without accents: "Não" and "nao" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_FOLDED_STOPWORDS: Final = frozenset(fold(w) for w in _STOPWORDS)


def number_key(raw: str) -> str:
    """'1.250,00' -> '1250', '49,90' -> '49.9', '18' -> '18': one spelling per amount."""
    parts = re.split(r"[.,]", raw)
    if len(parts) > 1 and len(parts[-1]) in (1, 2):
        whole, cents = "".join(parts[:-1]), parts[-1]
    else:
        whole, cents = "".join(parts), ""
    whole = whole.lstrip("0") or "0"
    cents = cents.rstrip("0")
    return f"{whole}.{cents}" if cents else whole


def informative_terms(text: str) -> set[str]:
    """Content words (stemmed by their first letters) and numbers of a text."""
    folded = fold(text)
    folded_no_emails = EMAIL.sub(lambda m: " " + m.group(0).replace(".", " ") + " ", folded)
    words = {
        w[:STEM_CHARS]
        for w in _WORD.findall(folded_no_emails)
        if len(w) >= 3 and w not in _FOLDED_STOPWORDS
    }
    numbers = {"#" + number_key(n) for n in NUMBER.findall(folded)}
    return words | numbers
