"""The turn-quality heuristics: grounding, repeated information, handover categories."""

from __future__ import annotations

import pytest

from waai.grounding import grounded, grounding_share, judge_grounded
from waai.turn_quality import (
    HANDOVER_CATEGORIES,
    SILENT_REASONS,
    TurnQuality,
    handover_category,
    repeated_info,
    silent_reason,
)

PASSAGES = [
    "Horário de funcionamento: segunda a sexta das 9h às 18h. Sábado das 9h às 13h.",
    {"document": "precos.md", "text": "Corte masculino: R$ 45,00. Barba: R$ 30,00."},
]


def test_reply_taken_from_the_passages_is_grounded() -> None:
    reply = "Funcionamos de segunda a sexta, das 9h às 18h, e no sábado das 9h às 13h!"
    assert grounded(reply, PASSAGES)
    assert judge_grounded(reply, PASSAGES) is True


def test_reply_with_accents_and_inflections_still_meets_its_source() -> None:
    reply = "O corte masculino custa R$45 e a barba sai por R$ 30."
    assert grounded(reply, PASSAGES)


def test_reply_inventing_facts_is_not_grounded() -> None:
    reply = "Temos estacionamento gratuito, aceitamos pix e entregamos em domicílio toda quinta."
    share = grounding_share(reply, PASSAGES)
    assert share is not None and share < 0.5
    assert not grounded(reply, PASSAGES)
    assert judge_grounded(reply, PASSAGES) is False


def test_a_price_the_passages_do_not_state_makes_the_reply_ungrounded() -> None:
    reply = "O corte masculino custa R$ 55,00 e a barba R$ 30,00."
    assert not grounded(reply, PASSAGES)


def test_nothing_to_judge_without_passages_or_informative_words() -> None:
    assert judge_grounded("Corte masculino custa R$ 45,00", []) is None
    assert not grounded("Corte masculino custa R$ 45,00", [])
    assert judge_grounded("Olá! Tudo bem? Posso ajudar?", PASSAGES) is None


def test_english_replies_are_judged_too() -> None:
    passages = ["Delivery takes three business days and shipping costs $12.50."]
    assert grounded("Shipping costs $12.50 and delivery takes three business days.", passages)
    assert not grounded("We offer free returns within thirty days at any store.", passages)


@pytest.mark.parametrize(
    ("earlier", "message"),
    [
        (["meu email é Ana.Souza@exemplo.com.br"], "já falei: ana.souza@exemplo.com.br"),
        (["Meu telefone: (11) 98765-4321"], "é +55 11 98765 4321"),
        (["CEP 01310-100"], "o cep é 01310100"),
        (["cpf 123.456.789-09"], "12345678909"),
        (["pedido número 48213, cadê?"], "o pedido 48213 ainda não chegou"),
        (["Oi, meu nome é João Pedro"], "como eu disse, me chamo joão pedro"),
        (["Moro na Rua das Flores, 120"], "o endereço é rua das flores 120"),
        (["Vocês entregam no bairro Centro?"], "vocês entregam no bairro centro??"),
    ],
)
def test_the_customer_repeating_a_fact(earlier: list[str], message: str) -> None:
    assert repeated_info(earlier, message)


@pytest.mark.parametrize(
    ("earlier", "message"),
    [
        ([], "meu email é ana@exemplo.com"),
        (["meu email é ana@exemplo.com"], "meu telefone é 11 98765-4321"),
        (["quero 2 cortes"], "quero 2 barbas também"),
        (["oi"], "oi"),
        (["Em 2024 comprei aí"], "em 2024 também"),
        (["Vocês entregam no bairro Centro?"], "E no bairro Jardim, vocês entregam?"),
    ],
)
def test_new_information_is_not_repeated(earlier: list[str], message: str) -> None:
    assert not repeated_info(earlier, message)


@pytest.mark.parametrize(
    ("cause", "category"),
    [
        ("ai:Cliente pediu para falar com um atendente", "customer_asked"),
        ("ai:customer asked for a human", "customer_asked"),
        ("customer_asked_for_human", "customer_asked"),
        ("customer_command", "customer_asked"),
        ("no_answer_in_knowledge_base", "no_answer"),
        ("ai:Não encontrei a informação sobre garantia", "no_answer"),
        ("ai:cliente insatisfeito com o atraso, quer reembolso", "complaint"),
        ("ai:erro ao consultar a agenda", "tool_failure"),
        ("ai:requested", "model_decided"),
        ("ai:orçamento de evento grande", "model_decided"),
        ("budget_exhausted", "budget"),
        ("console", "staff"),
        ("operator:abuse", "staff"),
        ("human_reply", "staff"),
        ("human_command", "staff"),
        ("", "other"),
        (None, "other"),
        ("something_new", "other"),
    ],
)
def test_handover_categories(cause: str | None, category: str) -> None:
    assert handover_category(cause) == category
    assert category in HANDOVER_CATEGORIES


@pytest.mark.parametrize(
    ("why", "reason"),
    [
        ("stale", "stale"),
        ("state_human", "handed_over"),
        ("opted_out", "opted_out"),
        ("budget_exhausted", "budget"),
        ("empty", "empty_reply"),
        ("bot_off", "bot_off"),
        ("llm_error", "error"),
        ("whatever", "other"),
        (None, "other"),
    ],
)
def test_silent_reasons(why: str | None, reason: str) -> None:
    assert silent_reason(why) == reason
    assert reason in SILENT_REASONS


def test_the_event_payload_has_every_figure() -> None:
    quality = TurnQuality(
        passages=2,
        documents=["precos.md"],
        grounded=True,
        tools=["transfer_to_human"],
        tokens_in=120,
        tokens_out=30,
        cost_brl=0.0012,
        handover="customer_asked",
    )
    data = quality.as_event()
    assert data["passages"] == 2 and data["documents"] == ["precos.md"]
    assert data["grounded"] is True and data["silent"] is None
    assert data["handover"] == "customer_asked" and data["repeated_info"] is False
    assert data["tokens_in"] == 120 and data["cost_brl"] == 0.0012
