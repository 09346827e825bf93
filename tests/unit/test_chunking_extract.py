"""Extraction of every supported kind, chunking, and query normalisation (no I/O)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from waai.knowledge.chunking import chunk_sections, split_long
from waai.knowledge.extract import (
    DocumentNotSupported,
    DocumentUnreadable,
    extract,
    source_kind,
)
from waai.knowledge.html_sections import html_sections
from waai.knowledge.sections import Section, csv_sections, markdown_sections
from waai.responders.offline import qa_answer
from wacommon.repositories.knowledge_search import (
    FULL_UNSEEN_UP_TO,
    UNSEEN_WORD_WEIGHT,
    unseen_word_weight,
)
from wacommon.repositories.knowledge_text import query_terms, unaccent, words

KB = Path(__file__).resolve().parent.parent / "data" / "kb"


def test_kind_comes_from_extension_then_content_type() -> None:
    assert source_kind("Menu.PDF") == "pdf"
    assert source_kind("faq.csv") == "csv"
    assert source_kind("notes") == "txt"
    assert source_kind("upload.bin", "text/markdown; charset=utf-8") == "md"
    with pytest.raises(DocumentNotSupported):
        source_kind("planilha.xlsx")


def test_markdown_is_split_by_heading_without_markup() -> None:
    sections = markdown_sections(
        "# Loja\n\nSomos **bons**.\n\n## Endereço\n\nVeja [o mapa](http://x)."
    )
    assert sections == [Section("Loja", "Somos bons."), Section("Endereço", "Veja o mapa.")]


def test_csv_rows_become_question_answer_sections_and_header_is_skipped() -> None:
    sections = csv_sections('pergunta,resposta\nTem Pix?,"Sim, chave 123."\n')
    assert sections == [Section("Tem Pix?", "Pergunta: Tem Pix?\nResposta: Sim, chave 123.", True)]
    assert qa_answer(sections[0].text) == "Sim, chave 123."


def test_csv_with_semicolons_is_read() -> None:
    sections = csv_sections("Qual o horário?;Das 8h às 18h.\nTem wifi?;Sim.\n")
    assert [s.heading for s in sections] == ["Qual o horário?", "Tem wifi?"]


def test_html_keeps_visible_text_by_heading() -> None:
    html = (
        "<html><head><title>x</title><style>p{}</style></head><body><h1>Menu</h1>"
        "<p>Pizza R$ 10</p><script>var a=1;</script><ul><li>Suco</li><li>Água</li></ul>"
        "<h2>Bebidas</h2><p>Chope &amp; vinho</p></body></html>"
    )
    sections = html_sections(html)
    assert sections == [
        Section("Menu", "Pizza R$ 10\n\nSuco\n\nÁgua"),
        Section("Bebidas", "Chope & vinho"),
    ]


async def test_pdf_text_is_extracted_with_headings_and_joined_lines() -> None:
    doc = await extract("politicas.pdf", (KB / "politicas.pdf").read_bytes())
    assert doc.kind == "pdf"
    headings = [s.heading for s in doc.sections]
    assert "Reembolso" in headings
    refund = doc.sections[headings.index("Reembolso")].text
    assert (
        refund == "Devoluções de valor são feitas por Pix ou estorno no cartão em até 2 dias úteis."
    )


async def test_broken_pdf_is_unreadable() -> None:
    with pytest.raises(DocumentUnreadable):
        await extract("x.pdf", b"%PDF-1.4 not really a pdf")


async def test_txt_in_windows_1252_is_decoded_and_short_lines_are_headings() -> None:
    data = "HORÁRIO\n\nAbrimos às 8h.\n\nPreços sob consulta.".encode("cp1252")
    doc = await extract("info.txt", data)
    assert doc.sections == [Section("HORÁRIO", "Abrimos às 8h.\n\nPreços sob consulta.")]
    assert len(doc.content_hash) == 64


def test_chunks_pack_paragraphs_up_to_the_cap_within_a_section() -> None:
    text = "\n\n".join(f"Parágrafo {i} " + "x" * 80 + "." for i in range(10))
    chunks = chunk_sections([Section("T", text), Section("U", "Outro.")], max_chars=300)
    assert all(len(c.text) <= 300 for c in chunks)
    assert [c.heading for c in chunks][-1] == "U"
    assert sum(c.text.count("Parágrafo") for c in chunks if c.heading == "T") == 10


def test_long_paragraph_is_split_at_sentences_with_overlap() -> None:
    sentences = [f"Frase número {i} com algum conteúdo." for i in range(30)]
    pieces = split_long(" ".join(sentences), max_chars=200, overlap_chars=60)
    assert len(pieces) > 1
    assert all(len(p) <= 200 for p in pieces)
    for before, after in itertools.pairwise(pieces):
        assert after.split(". ")[0] in before  # the next piece starts with the previous tail


def test_atomic_sections_are_never_merged() -> None:
    chunks = chunk_sections([Section("a?", "Pergunta: a?\nResposta: b.", True)] * 3)
    assert len(chunks) == 3


def test_query_normalisation_handles_chat_spelling() -> None:
    assert unaccent("Horário AMANHÃ") == "horario amanha"
    assert words("vc sabe qto custa hj?") == ["voce", "sabe", "quanto", "custa", "hoje"]
    terms = query_terms("qto é o frete pro centro?")
    originals = [t.word for t in terms if t.weight == 1.0]
    assert originals == ["frete", "centro"]
    assert any(t.word == "entrega" and t.group == 0 for t in terms)


def test_synonyms_of_one_concept_share_a_group() -> None:
    terms = query_terms("quanto tempo demora")
    assert {t.group for t in terms} == {0}
    assert query_terms("oi, bom dia!") == []


def test_teacher_abbreviations_are_expanded() -> None:
    assert words("os profs sao bons? a profa e nativa?") == [
        "os",
        "professores",
        "sao",
        "bons",
        "a",
        "professora",
        "e",
        "nativa",
    ]


def test_a_hyphenated_word_also_looks_for_its_other_spelling() -> None:
    # PostgreSQL indexes "e-mail" as "e-mail" and "mail": "email" alone would never meet it
    for asked, other in (("qual o email?", "e-mail"), ("tem wi-fi?", "wifi")):
        [term, *rest] = query_terms(asked)
        assert any(t.word == other and t.weight == 1.0 and t.group == term.group for t in rest)


def test_an_unknown_word_counts_less_the_longer_the_message() -> None:
    # "tem aula de yoga?": yoga is the topic; in a six-word message an unknown word is an aside
    assert unseen_word_weight(1) == unseen_word_weight(FULL_UNSEEN_UP_TO) == UNSEEN_WORD_WEIGHT
    assert unseen_word_weight(6) == UNSEEN_WORD_WEIGHT * FULL_UNSEEN_UP_TO / 6
    assert unseen_word_weight(0) == UNSEEN_WORD_WEIGHT


def test_diminutives_look_for_their_base_word() -> None:
    assert any(t.word == "cadeira" for t in query_terms("tem cadeirinha?"))


def test_html_table_rows_keep_their_cells_apart_with_the_column_names() -> None:
    html = (
        "<h2>Medidas</h2><table><tr><th>Tamanho</th><th>Busto</th><th>Cintura</th></tr>"
        "<tr><td>PP (34)</td><td>80 cm</td><td>62 cm</td></tr>"
        "<tr>\n  <td>P (36)</td>\n  <td>86 cm</td>\n  <td>68 cm</td>\n</tr></table>"
    )
    [section] = html_sections(html)
    lines = section.text.split("\n\n")
    assert lines == [
        "Tamanho | Busto | Cintura",
        "PP (34): Busto 80 cm, Cintura 62 cm",
        "P (36): Busto 86 cm, Cintura 68 cm",
    ]


def test_semicolon_csv_with_commas_in_the_answers_is_read_by_semicolons() -> None:
    # one comma per row, no header: the csv sniffer takes the comma for the delimiter
    text = "Aceitam pix?;Sim, no pix.\nTem frete?;Acima de 200, sim.\nTrocam?;Sim, em 7 dias.\n"
    sections = csv_sections(text)
    assert [s.heading for s in sections] == ["Aceitam pix?", "Tem frete?", "Trocam?"]
    assert sections[0].text == "Pergunta: Aceitam pix?\nResposta: Sim, no pix."
