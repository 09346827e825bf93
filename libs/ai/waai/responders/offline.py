"""The responder that needs no API key: greets, quotes the knowledge base, or calls a person."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from waai.formatting import shape_reply
from waai.grounding import judge_grounded
from waai.knowledge.retrieval import KnowledgeRetriever, Passage
from waai.responders.responder import ResponderInput, ResponderOutput, Usage, passage_summary
from waai.tools.registry import tool_settings
from wacommon.repositories.knowledge_text import unaccent
from wacommon.repositories.reply_files import ReplyFile, fold

# a tenant's sendable files (wacommon.repositories.reply_files.list_files on the pool)
FileLister = Callable[[str], Awaitable[list[ReplyFile]]]

MODEL_NAME = "offline"
HANDOVER_ASKED = "customer_asked_for_human"
HANDOVER_NO_ANSWER = "no_answer_in_knowledge_base"
MAX_QUOTE_CHARS = 700
# a second passage is quoted only when it is nearly as relevant as the best one
SECOND_PASSAGE_RATIO = 0.85

_GREETING_WORDS = frozenset(
    [
        "oi",
        "oie",
        "ola",
        "opa",
        "eai",
        "e",
        "ai",
        "bom",
        "boa",
        "dia",
        "tarde",
        "noite",
        "tudo",
        "bem",
        "hello",
        "hi",
        "hey",
        "alo",
        "salve",
        "blz",
        "beleza",
        "tranquilo",
        "td",
        "como",
        "vai",
    ]
)
_THANKS_WORDS = frozenset(
    ["obrigado", "obrigada", "obg", "obgd", "brigado", "brigada", "valeu", "vlw", "agradeco"]
)
_ACK_WORDS = frozenset(
    [
        "ok",
        "okay",
        "certo",
        "beleza",
        "blz",
        "show",
        "otimo",
        "perfeito",
        "muito",
        "mt",
        "entendi",
        "ta",
    ]
)
_WANTS_HUMAN = re.compile(
    r"\b(atendente|humano|humana|pessoa|gerente|operador|operadora|responsavel|funcionario|"
    r"funcionaria)\b|\bfalar com (alguem|algum|uma pessoa|gente|o dono|a dona)\b"
)
_ASKS_IF_BOT = re.compile(
    r"\b(robo|robozinho|bot|chatbot|automatico|automatica|inteligencia artificial)\b"
    r"|\b(e|eh|voce e|vc e|vc eh)\s+(um\s+|uma\s+)?(humano|humana|pessoa|gente)\b"
)
_WORD = re.compile(r"[a-z0-9]+")
_ASKS_FOR_FILE = re.compile(
    r"\b(manda|mande|mandar|manda ai|envia|envie|enviar|me passa|passa|tem|quero ver|"
    r"pode mandar|poderia mandar|gostaria de ver|ver o|ver a)\b"
)
# words of a file's name or description too common to tell one file from another
_FILE_NAME_NOISE = frozenset({"pdf", "jpg", "jpeg", "png", "de", "da", "do", "dos", "das", "e"})


# how many passages the offline bot reads (it quotes one or two of them)
OFFLINE_PASSAGES = 3


class OfflineResponder:
    """Answers only with what the tenant's documents say; anything else goes to a person."""

    def __init__(
        self,
        retriever: KnowledgeRetriever,
        *,
        k: int = OFFLINE_PASSAGES,
        files: FileLister | None = None,
    ) -> None:
        self._retriever = retriever
        self._k = k
        self._files = files

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        """Greet, state what it is, quote the best passages, or hand over to a human."""
        text = "\n".join(t.text for t in inp.burst if t.role == "customer" and t.text.strip())
        folded = unaccent(text)
        words = _WORD.findall(folded)
        business = inp.tenant.name
        if not words:
            return _reply(
                "Por aqui eu consigo ler só mensagens de texto. Pode escrever sua dúvida?"
            )
        if _ASKS_IF_BOT.search(folded):
            return _reply(
                f"Sou o assistente automático da {business}: respondo com as informações que a "
                "empresa me passou. Se preferir falar com uma pessoa, é só pedir."
            )
        if _WANTS_HUMAN.search(folded):
            return _handover(
                "Claro! Vou chamar uma pessoa da nossa equipe para continuar o atendimento. "
                "Em breve alguém responde por aqui.",
                HANDOVER_ASKED,
            )
        if all(w in _GREETING_WORDS for w in words):
            name = f", {inp.contact_name.split()[0]}" if inp.contact_name else ""
            return _reply(
                f"Olá{name}! Sou o assistente automático da {business}. Como posso ajudar?"
            )
        if all(w in _THANKS_WORDS or w in _ACK_WORDS for w in words):
            thanked = any(w in _THANKS_WORDS for w in words)
            opening = "Por nada!" if thanked else "Combinado!"
            return _reply(f"{opening} Se precisar de mais alguma coisa, é só chamar.")
        # files go only where the tenant switched them on (tools_config.send_files), as
        # the model's send_file tool does
        wants_files = tool_settings(inp.tenant.tools_config, "send_files") is not None
        if self._files is not None and wants_files and _ASKS_FOR_FILE.search(folded):
            asked = await self._asked_file(inp.tenant.id, set(words))
            if asked is not None:
                out = _reply(f"Claro! Segue o arquivo {asked.name}.")
                out.files = [asked]
                return out
        passages = await self._retriever.search(inp.tenant.id, text, self._k)
        if not passages:
            return _handover(
                "Não encontrei essa informação por aqui. Vou passar sua mensagem para uma "
                "pessoa da nossa equipe, que responde em breve.",
                HANDOVER_NO_ANSWER,
            )
        answer = compose_answer(passages)
        out = _reply(answer)
        out.usage.passages = [passage_summary(p) for p in passages]
        out.usage.grounded = judge_grounded(answer, passages)
        return out

    async def _asked_file(self, tenant_id: str, words: set[str]) -> ReplyFile | None:
        """The one file whose name (or description) the customer named, else None."""
        assert self._files is not None
        matches = []
        for f in await self._files(tenant_id):
            stem = f.name.rsplit(".", 1)[0]
            keys = set(fold(f"{stem} {f.description}").split()) - _FILE_NAME_NOISE
            # "cardapio" names cardapio.pdf; plurals and short forms by a common prefix
            if any(_same_word(w, k) for w in words for k in keys if len(k) >= 4):
                matches.append(f)
        return matches[0] if len(matches) == 1 else None


def _same_word(a: str, b: str) -> bool:
    return len(a) >= 4 and (a == b or a.rstrip("s") == b.rstrip("s"))


def compose_answer(passages: list[Passage]) -> str:
    """The best passage (and a second one as relevant), quoted as written in the documents."""
    best = passages[0]
    chosen = [best] + [
        p for p in passages[1:2] if p.score >= best.score * SECOND_PASSAGE_RATIO and p != best
    ]
    return "\n\n".join(_quote(p) for p in chosen)


def _quote(passage: Passage) -> str:
    answer = qa_answer(passage.text)
    if answer is not None:
        return answer
    body = _shorten(passage.text.strip(), MAX_QUOTE_CHARS)
    return f"**{passage.heading}**\n{body}" if passage.heading else body


def qa_answer(text: str) -> str | None:
    """The answer part of a "Pergunta: ... Resposta: ..." chunk, else None."""
    match = re.match(r"\s*Pergunta:.*?\n\s*Resposta:\s*(.+)", text, re.S)
    return match.group(1).strip() if match else None


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = max(text.rfind(". ", 0, limit), text.rfind("\n", 0, limit))
    return text[: cut + 1].strip() if cut > 0 else text[:limit].rsplit(" ", 1)[0] + "…"


def _reply(text: str) -> ResponderOutput:
    return ResponderOutput(messages=shape_reply(text), usage=Usage(model=MODEL_NAME))


def _handover(text: str, reason: str) -> ResponderOutput:
    return ResponderOutput(
        messages=shape_reply(text), handover_reason=reason, usage=Usage(model=MODEL_NAME)
    )
