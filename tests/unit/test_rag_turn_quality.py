"""The rag-worker's `turn_quality` figures of one turn, before the commit adds what it knows."""

from __future__ import annotations

from datetime import UTC, datetime

from rag_worker.quality import customer_repeated, turn_quality
from waai.responders.responder import ResponderOutput, Usage
from wacommon.metrics.prices import default_prices

AT = datetime(2026, 12, 6, 12, tzinfo=UTC)
PASSAGES = [
    {"document": "precos.md", "score": 0.9, "text": "Corte masculino: R$ 45,00."},
    {"document": "precos.md", "score": 0.7, "text": "Barba: R$ 30,00."},
]


def row(text: str, direction: str = "in", role: str = "customer") -> dict[str, object]:
    return {"direction": direction, "role": role, "content": text, "created_at": AT}


def test_a_sent_reply_carries_its_passages_tools_tokens_and_cost() -> None:
    usage = Usage(model="gpt-4o-mini", tokens_in=1_000_000, tokens_out=0, passages=PASSAGES)
    usage.tool_calls = [{"name": "check_availability", "ok": True}]
    output = ResponderOutput(messages=["O corte masculino custa R$ 45,00."], usage=usage)
    quality = turn_quality(
        output, output.messages, repeated=False, prices=default_prices(), usd_brl=5.0
    )
    assert quality.passages == 2 and quality.documents == ["precos.md"]
    assert quality.grounded is True and quality.tools == ["check_availability"]
    # gpt-4o-mini: US$ 0.15 per million tokens in, at R$ 5 per dollar
    assert quality.cost_brl == 0.75
    assert quality.silent is None and quality.handover is None


def test_nothing_to_send_is_a_silent_turn_and_a_handover_is_categorised() -> None:
    empty = ResponderOutput(messages=[], usage=Usage(model="gpt-4o-mini"))
    quality = turn_quality(empty, [], repeated=False, prices=default_prices(), usd_brl=5.0)
    assert quality.silent == "empty_reply" and quality.grounded is None
    handover = ResponderOutput(
        messages=["Vou chamar um atendente."],
        handover_reason="o cliente está insatisfeito e quer reembolso",
        usage=Usage(model="gpt-4o-mini"),
    )
    quality = turn_quality(
        handover, handover.messages, repeated=True, prices=default_prices(), usd_brl=5.0
    )
    assert quality.handover == "complaint" and quality.repeated_info is True


def test_repeated_against_the_history_and_earlier_messages_of_the_burst() -> None:
    history = [row("meu cep é 01310-100"), row("Qual o seu CEP?", "out", "bot")]
    assert customer_repeated(history, [row("01310100")])
    # the bot's own words are not the customer's
    assert not customer_repeated([row("CEP 01310-100", "out", "bot")], [row("01310100")])
    # within one burst: the second message repeats the first
    assert customer_repeated([], [row("pedido 48213"), row("o pedido é 48213")])
    assert not customer_repeated(history, [row("quero marcar um corte")])
