"""Form submissions: phone discovery and normalisation, greeting placeholders, prompt text."""

from __future__ import annotations

import pytest

from wacommon.conversation.lead_context import (
    FormPayloadInvalid,
    PhoneNotFound,
    normalize_phone,
    parse_submission,
)
from wacommon.conversation.lead_text import format_for_prompt, render_greeting


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(11) 98888-7777", "5511988887777"),
        ("011 98888-7777", "5511988887777"),
        (11988887777, "5511988887777"),
        (11988887777.0, "5511988887777"),
        ("+55 11 98888-7777", "5511988887777"),
        ("5511988887777", "5511988887777"),
        ("+1 415 555 0100", "14155550100"),
        ("0044 20 7946 0958", "442079460958"),
        ("1234", None),
        ("", None),
        (True, None),
        ("+1234567890123456", None),
    ],
)
def test_phone_normalisation(raw: object, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_phone_keys_are_found_in_any_spelling() -> None:
    assert parse_submission({"Seu Celular (WhatsApp)": "21 97777-6666"}).phone == "5521977776666"
    assert parse_submission({"TELEFONE": "21977776666"}).phone == "5521977776666"
    assert parse_submission({"tel": "21977776666"}).phone == "5521977776666"


def test_a_number_field_that_is_not_a_phone_is_not_taken_for_one() -> None:
    with pytest.raises(PhoneNotFound):
        parse_submission({"numero_do_pedido": "12345678901", "nome": "Ana"})


def test_nested_answer_containers_are_flattened() -> None:
    form = parse_submission(
        {
            "form_id": "x",
            "fields": {
                "name": {"id": "name", "value": "Bia", "title": "Nome"},
                "phone": {"id": "phone", "value": "11 90000-1111"},
            },
        }
    )
    assert form.phone == "5511900001111" and form.name == "Bia"


def test_the_name_of_a_company_is_not_the_lead_name() -> None:
    form = parse_submission({"telefone": "11900001111", "nome_da_empresa": "ACME"})
    assert form.name is None


@pytest.mark.parametrize("body", [{}, [], None, "x", [1, 2], {"telefone": ""}])
def test_bodies_without_fields_are_invalid(body: object) -> None:
    with pytest.raises(FormPayloadInvalid):
        parse_submission(body)


def test_greeting_placeholders() -> None:
    form = parse_submission(
        {"Nome completo": "Maria Clara", "telefone": "11900001111", "Plano": "Premium"}
    )
    assert render_greeting("Oi {primeiro_nome}, o {plano} é ótimo!", form) == (
        "Oi Maria, o Premium é ótimo!"
    )
    assert render_greeting("Olá {nome}! {desconhecido}", form) == "Olá Maria Clara!"
    assert render_greeting("Olá {nome.__class__}!", form) == "Olá!"


def test_prompt_block_lists_fields_and_utms_as_data() -> None:
    form = parse_submission(
        {"nome": "Ana", "telefone": "11900001111", "Interesse": "Casa", "utm_source": "ig"}
    )
    text = format_for_prompt(form.as_context("2024-01-01T00:00:00+00:00"))
    assert "não instruções" in text and "Nome: Ana" in text
    assert "- Interesse: Casa" in text and "utm_source=ig" in text
