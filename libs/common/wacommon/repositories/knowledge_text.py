"""How customers write on WhatsApp, turned into search terms: accents, abbreviations, synonyms."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9@._-]*[a-z0-9]+|[a-z0-9]")

# Chat spelling -> the word a business document would use (already unaccented).
_ABBREVIATION_TEXT = """
vc=voce vcs=voces c=voce ce=voce q=que oq=o+que qto=quanto qnto=quanto qt=quanto qts=quantos
qntos=quantos qtos=quantos qdo=quando qnd=quando qndo=quando hj=hoje amanha=amanha pq=porque
tb=tambem tbm=tambem td=tudo tds=todos msg=mensagem obg=obrigado obgd=obrigado pfv=favor
pf=favor pfvr=favor pls=favor end=endereco tel=telefone fone=telefone cel=celular zap=whatsapp
wpp=whatsapp whats=whatsapp wts=whatsapp insta=instagram ig=instagram face=facebook fb=facebook
apto=apartamento ap=apartamento nf=nota+fiscal promo=promocao promos=promocoes
refri=refrigerante niver=aniversario info=informacao infos=informacoes hr=hora hrs=horas
h=horas sab=sabado dom=domingo seg=segunda sex=sexta fds=fim+de+semana p=para pra=para pro=para
pros=para ta=esta to=estou tao=estao kd=onde cade=onde mt=muito mto=muito mts=muitos nd=nada
ngm=ninguem dps=depois agr=agora vdd=verdade cx=caixa qr=quer qro=quero ctz=certeza
add=adicionar n=nao s=sim ze=jose dr=doutor dra=doutora prof=professor
profa=professora profs=professores
"""
ABBREVIATIONS: dict[str, str] = {
    k: v.replace("+", " ")
    for k, _, v in (item.partition("=") for item in _ABBREVIATION_TEXT.split())
}

# Words that carry no topic in a customer's question (unaccented).
_STOPWORD_TEXT = """
a o e as os um uma uns umas de da do das dos em no na nos nas num numa ao aos para por pelo
pela pelos pelas com sem que se ou mas como qual quais quem onde quando quanto quantos quantas
quanta eu voce voces ele ela eles elas me te lhe meu minha meus minhas seu sua seus suas nosso
nossa tem ter tenho temos tinha ha esta estao estou estamos estar ser sao era foi vai vou vao
ja mais muito muitos pouco isso isto esse essa este aquilo ai aqui la ali entao tambem so ainda
ate oi ola opa bom boa bons boas dia dias tarde noite obrigado obrigada valeu favor gostaria
queria quero quer saber sabe pode podem poderia posso consigo dar fazer faz fazem faco vcs
algum alguma alguns algumas hoje agora amanha sim nao ne tipo coisa coisas gente pessoal alo
tudo todos bem blz beleza ok okay existe existem preciso precisa seria sera vem vir depois
porque pois the sobre moco amigo amiga manda mandar mande mando passa passar passe envia
enviar envie informa informar fala diz dizer procurando procuro procurar
ir ido fiz fez sei mim dele dela deles delas deu tava veio acho algo nada nunca sempre vez
mesmo mesma aquele aquela aqueles aquelas toda todo todas ver vejo olhar
ontem anteontem sou somos moro mora moramos certinho direitinho rs kk kkk haha hehe
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# Domain vocabulary that customers and documents spell differently; each word finds the others.
_SYNONYM_TEXT = """
preco precos valor valores custa custo cobram cobra caro cara barato barata
horario horarios hora horas funciona funcionamento abre abrem aberto aberta fecha fecham
  fechado expediente
entrega entregam entregar frete envio enviam despacham despacho delivery entregador motoboy
retirada retirar retiro buscar busco balcao
pagamento pagar pago paga pix cartao cartoes credito debito dinheiro maquininha parcela
  parcelar parcelado
endereco localizacao rua local perto proximo proxima
reserva reservas reservar agendar marcar agendamento
cancelar cancelamento cancelo desmarcar desistir
telefone contato whatsapp numero ligar celular
estacionamento estacionar estaciono
promocao promocoes desconto descontos oferta ofertas cupom
reembolso devolucao devolucoes devolver devolvem estorno estornar
reclamacao reclamar queixa insatisfeito
crianca criancas infantil kids filho filha filhos filhas bebe
animal animais cachorro cachorros gato gatos cao pet pets
curriculo emprego trabalhar trabalhe contratando contratar
wifi wi-fi internet senha
demora demorar demoram tempo prazo
fidelidade pontos fidelizacao
dados privacidade lgpd apagar apaguem excluir exclusao
cadeirante cadeirantes acessibilidade acesso rampa deficiente deficiencia
encomenda encomendas encomendar
troca trocar trocas
garantia defeito
gratis graca gratuito gratuita
"""
# one group per line; an indented line continues the previous group
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = tuple(
    tuple(group.split()) for group in re.split(r"\n(?! )", _SYNONYM_TEXT.strip())
)

_SYNONYMS: dict[str, tuple[str, ...]] = {}
for _group in SYNONYM_GROUPS:
    for _word in _group:
        _SYNONYMS[_word] = tuple(dict.fromkeys(_SYNONYMS.get(_word, ()) + _group))


# One word, spelt with or without its hyphen: PostgreSQL indexes "e-mail" as "e-mail" and "mail",
# never "email", so each spelling also looks for the other (at full weight).
_SPELLINGS_TEXT = """
email e-mail
wifi wi-fi
"""


def _word_groups(text: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for line in text.strip().splitlines():
        group = tuple(line.split())
        for word in group:
            out[word] = tuple(w for w in group if w != word)
    return out


SPELLINGS = _word_groups(_SPELLINGS_TEXT)

# Words that ask for a price: a passage quoting one (R$ 50) answers them better.
_PRICE_WORDS = frozenset(
    [
        "quanto",
        "quanta",
        "custa",
        "custam",
        "custo",
        "preco",
        "precos",
        "valor",
        "valores",
        "cobra",
        "cobram",
        "cobrar",
        "sai",
        "saem",
        "orcamento",
        "taxa",
    ]
)


def asks_price(query: str) -> bool:
    """Whether a customer's message asks how much something costs."""
    return any(w in _PRICE_WORDS for w in words(query))


@dataclass(frozen=True)
class QueryTerm:
    """One word to search for: `group` ties a customer word to its synonyms (best one counts)."""

    word: str
    weight: float
    group: int


def unaccent(text: str) -> str:
    """Lowercase and strip diacritics ("Horário" -> "horario")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Unaccented lowercase words of `text`, abbreviations expanded."""
    out: list[str] = []
    for token in _WORD.findall(unaccent(text)):
        token = token.strip("._-")
        # letters repeated for emphasis ("simmm", "oiii") are one letter in writing
        token = re.sub(r"([a-z])\1{2,}", r"\1", token)
        if token:
            out.extend(ABBREVIATIONS.get(token, token).split())
    return out


def query_terms(query: str, *, synonym_weight: float = 0.6) -> list[QueryTerm]:
    """The customer's content words (weight 1) and their domain synonyms (lower weight)."""
    terms: list[QueryTerm] = []
    seen: set[str] = set()
    # a word that is a synonym of an earlier one joins its group: one concept counts once
    group_of: dict[str, int] = {}
    for word in words(query):
        if word in STOPWORDS or word in seen or len(word) < 2:
            continue
        seen.add(word)
        group = group_of.get(word, len(set(group_of.values())))
        group_of.setdefault(word, group)
        terms.append(QueryTerm(word, 1.0, group))
        base = diminutive_base(word)
        related = [(base, 0.9)] if base else []
        related += [(other, 1.0) for other in SPELLINGS.get(word, ())]
        related += [(syn, synonym_weight) for syn in _SYNONYMS.get(base or word, ())]
        for other, weight in related:
            if other not in group_of:
                terms.append(QueryTerm(other, weight, group))
                group_of[other] = group
    return terms


def diminutive_base(word: str) -> str | None:
    """ "cadeirinha" -> "cadeira", "cafezinho" -> "cafe"; None when not a diminutive."""
    if len(word) > 7 and word.endswith(("zinho", "zinha")):
        return word[:-5]
    if len(word) > 6 and word.endswith(("inho", "inha")):
        return word[:-4] + word[-1]
    return None


def vocabulary(text: str) -> set[str]:
    """Distinct words of a document worth offering as spelling corrections."""
    return {w for w in words(text) if len(w) >= 4 and w.isalpha() and w not in STOPWORDS}
