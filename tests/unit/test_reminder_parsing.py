"""Portuguese reminder times resolved in the tenant's time zone, with the instant injected."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from wacommon.conversation.reminders import AmbiguousTime, parse_when

SP = "America/Sao_Paulo"
# Wednesday 5 March 2025, 14:20 in São Paulo
NOW = datetime(2025, 3, 5, 14, 20, tzinfo=ZoneInfo(SP))


def sp(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(SP))  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amanhã às 15h", sp(2025, 3, 6, 15, 0)),
        ("amanha as 15:30", sp(2025, 3, 6, 15, 30)),
        ("Amanhã às 9h30", sp(2025, 3, 6, 9, 30)),
        ("amanhã ao meio-dia", sp(2025, 3, 6, 12, 0)),
        ("amanhã de manhã", sp(2025, 3, 6, 9, 0)),
        ("amanhã às 3 da tarde", sp(2025, 3, 6, 15, 0)),
        ("amanhã às 8 da noite", sp(2025, 3, 6, 20, 0)),
        ("depois de amanhã", sp(2025, 3, 7, 10, 0)),
        ("depois de amanhã às 16h", sp(2025, 3, 7, 16, 0)),
        ("hoje às 18h", sp(2025, 3, 5, 18, 0)),
        ("às 16h", sp(2025, 3, 5, 16, 0)),
        ("daqui a 2 dias", sp(2025, 3, 7, 14, 20)),
        ("daqui a dois dias às 10h", sp(2025, 3, 7, 10, 0)),
        ("daqui a 3 horas", sp(2025, 3, 5, 17, 20)),
        ("em 30 minutos", sp(2025, 3, 5, 14, 50)),
        ("daqui a meia hora", sp(2025, 3, 5, 14, 50)),
        ("daqui a uma semana", sp(2025, 3, 12, 14, 20)),
        ("dia 10", sp(2025, 3, 10, 10, 0)),
        ("dia 10 às 14h", sp(2025, 3, 10, 14, 0)),
        ("dia 3", sp(2025, 4, 3, 10, 0)),  # already past this month
        ("dia 31", sp(2025, 3, 31, 10, 0)),
        ("10/03 às 16h", sp(2025, 3, 10, 16, 0)),
        ("15 de abril", sp(2025, 4, 15, 10, 0)),
        ("2 de janeiro", sp(2026, 1, 2, 10, 0)),
        ("semana que vem", sp(2025, 3, 12, 10, 0)),
        ("mês que vem", sp(2025, 4, 5, 10, 0)),
        ("sexta às 9", sp(2025, 3, 7, 9, 0)),
        ("sexta-feira às 9h30", sp(2025, 3, 7, 9, 30)),
        ("na segunda às 8h", sp(2025, 3, 10, 8, 0)),
        ("próxima quarta", sp(2025, 3, 12, 10, 0)),
        ("segunda da semana que vem às 8h", sp(2025, 3, 10, 8, 0)),
        ("sexta da próxima semana", sp(2025, 3, 14, 10, 0)),
        ("2025-03-20T15:00", sp(2025, 3, 20, 15, 0)),
        ("2025-03-20", sp(2025, 3, 20, 10, 0)),
        ("2025-03-20T18:00:00Z", sp(2025, 3, 20, 15, 0)),
    ],
)
def test_expressions_resolve_to_the_expected_instant(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, SP) == expected


def test_days_are_counted_in_the_tenant_time_zone() -> None:
    # 14:20 in São Paulo is already 02:20 on Thursday in Tokyo: "amanhã" is Friday there
    assert parse_when("amanhã às 15h", NOW, "Asia/Tokyo") == datetime(
        2025, 3, 7, 15, 0, tzinfo=ZoneInfo("Asia/Tokyo")
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mais tarde",
        "daqui a pouco",
        "fim de semana",
        "hoje",  # at what time?
        "quarta",  # today or next week?
        "às 3",  # 3h or 15h?
        "amanhã às 5",
        "às 10h",  # already past today
        "ontem às 10h",
        "amanhã às 15h e dia 10",
        "dia 32",
        "31/02",
        "amanhã à meia-noite",
        "lembra de pagar 2 boletos",
        "qualquer coisa",
        "2024-01-01T10:00",
    ],
)
def test_ambiguous_or_past_expressions_are_rejected(text: str) -> None:
    with pytest.raises(AmbiguousTime) as raised:
        parse_when(text, NOW, SP)
    assert str(raised.value)
