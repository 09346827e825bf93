"""WhatsApp shaping of model answers: formatting, bubbles, copyable content."""

from __future__ import annotations

from waai.formatting import copyable, shape_reply, split_bubbles, to_whatsapp


def test_markdown_bold_italic_strike_become_whatsapp_marks() -> None:
    assert to_whatsapp("**Preço** e __prazo__, *grátis*, ~~caro~~") == (
        "*Preço* e *prazo*, _grátis_, ~caro~"
    )


def test_headings_become_bold_lines() -> None:
    assert to_whatsapp("## Horários\nSeg a sex") == "*Horários*\nSeg a sex"
    assert to_whatsapp("# **Planos**") == "*Planos*"


def test_links_show_label_and_url() -> None:
    assert to_whatsapp("Veja [o cardápio](https://loja.example/menu).") == (
        "Veja o cardápio: https://loja.example/menu."
    )
    assert to_whatsapp("[https://loja.example](https://loja.example)") == "https://loja.example"


def test_star_bullets_become_dashes_and_not_italics() -> None:
    assert to_whatsapp("* um\n* dois *três*") == "- um\n- dois _três_"


def test_code_is_left_alone() -> None:
    assert to_whatsapp("use `**x**` e\n```\n**y**\n```") == "use `**x**` e\n```**y**```"


def test_short_answer_is_one_bubble() -> None:
    assert split_bubbles("Oi!\n\nTudo bem?", 1000) == ["Oi!\n\nTudo bem?"]


def test_long_answer_splits_at_paragraphs_within_the_cap() -> None:
    paragraphs = [f"Parágrafo {i} " + "x" * 50 for i in range(6)]
    bubbles = split_bubbles("\n\n".join(paragraphs), 140)
    assert len(bubbles) == 3
    assert all(len(b) <= 140 for b in bubbles)
    assert "\n\n".join(bubbles) == "\n\n".join(paragraphs)


def test_a_paragraph_longer_than_the_cap_splits_at_sentences() -> None:
    para = " ".join(f"Frase número {i} termina aqui." for i in range(10))
    bubbles = split_bubbles(para, 100)
    assert all(len(b) <= 100 for b in bubbles)
    assert all(b.endswith(".") for b in bubbles)
    assert " ".join(bubbles) == para


def test_a_word_longer_than_the_cap_is_cut() -> None:
    bubbles = split_bubbles("a" * 250, 100)
    assert [len(b) for b in bubbles] == [100, 100, 50]


def test_pix_key_by_label_is_copyable() -> None:
    assert copyable("Nossa chave Pix (CNPJ): 12.345.678/0001-90. Obrigado!") == [
        "12.345.678/0001-90"
    ]


def test_email_tracking_code_and_cep_are_copyable() -> None:
    text = "Rastreio: AB123456789BR, entrega no CEP 01310-100. Dúvidas: sac@loja.com.br"
    assert copyable(text) == ["AB123456789BR", "01310-100", "sac@loja.com.br"]


def test_plain_text_has_nothing_to_copy() -> None:
    assert copyable("Abrimos às 9h e fechamos às 18h, de segunda a sexta.") == []


def test_copyable_value_is_its_own_bubble_right_after_its_text() -> None:
    bubbles = shape_reply("Pague com a chave Pix `pix@loja.com.br`.\n\nDepois me avise!", 40)
    assert bubbles == [
        "Pague com a chave Pix `pix@loja.com.br`.",
        "pix@loja.com.br",
        "Depois me avise!",
    ]


def test_random_pix_key_is_copyable_once() -> None:
    key = "123e4567-e89b-12d3-a456-426614174000"
    bubbles = shape_reply(f"**Chave Pix:** {key}\n\nRepito: {key}")
    assert bubbles == [f"*Chave Pix:* {key}\n\nRepito: {key}", key]


def test_empty_answer_has_no_bubbles() -> None:
    assert shape_reply("  \n\n ") == []
