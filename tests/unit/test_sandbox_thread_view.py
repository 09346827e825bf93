"""The sandbox thread as the page prints it: a trace of any age renders, with its cost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from console.i18n import Translator
from console.pages.render import environment
from console.sandbox.thread import Bubble, SandboxThread, Turn, trace_view
from wacommon.metrics.prices import default_prices, reply_cost_usd


def _render(thread: SandboxThread) -> str:
    return (
        environment()
        .get_template("_sandbox_thread.html")
        .render(
            t=Translator("pt_BR"),
            thread=thread,
            urls={"thread": "/testar/conversa?tenant_id=x"},
            poll_ms=1500,
        )
    )


def test_a_trace_missing_fields_still_renders_and_costs_by_the_price_table() -> None:
    prices = default_prices()
    raw = {
        "model": "gpt-4o-mini",
        "tokens_in": 1000,
        "tokens_out": 500,
        "latency_ms": 1234,
        "passages": [{"document": "cardapio.md"}, "not a passage"],
        "tools": [{"name": "book_appointment", "dry_run": True, "arguments": {"start": "x"}}, {}],
    }
    trace = trace_view(raw, prices)
    assert trace.cost_usd == Decimal("0.00045")  # 1000 * 0.15/1M + 500 * 0.60/1M
    at = datetime.now(UTC)
    thread = SandboxThread(
        "c1",
        "human",
        "ai:cliente pediu",
        [
            Turn(False, [Bubble(1, False, "customer", "<b>oi</b>", "received", at)]),
            Turn(True, [Bubble(2, True, "bot", "Olá!", "sent", at, "b1")], trace),
        ],
    )
    html = _render(thread)
    assert "&lt;b&gt;oi&lt;/b&gt;" in html  # typed text is escaped
    assert "Respondeu em 1.2 s" in html and "US$ 0.00045" in html
    assert "cardapio.md" in html and "simulado, não feito" in html
    assert "passou esta conversa para um atendente" in html
    assert f'data-version="{thread.version}"' in html


def test_an_unknown_model_is_priced_as_the_default_row() -> None:
    prices = default_prices()
    assert reply_cost_usd(prices, "some-new-model", 1_000_000, 0) == Decimal("0.50")
    assert reply_cost_usd(prices, "offline", 1_000_000, 1_000_000) == 0


def test_the_version_changes_with_what_is_shown() -> None:
    at = datetime.now(UTC)
    pending = SandboxThread(
        "c", "bot", None, [Turn(False, [Bubble(1, False, "customer", "oi", "received", at)])]
    )
    answered = SandboxThread(
        "c",
        "bot",
        None,
        [
            Turn(False, [Bubble(1, False, "customer", "oi", "received", at)]),
            Turn(True, [Bubble(2, True, "bot", "Olá", "sent", at, "b")]),
        ],
    )
    assert pending.version != answered.version
    assert (
        SandboxThread("c", "bot", None, []).version != SandboxThread("c", "human", None, []).version
    )
