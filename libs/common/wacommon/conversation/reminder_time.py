"""Natural Portuguese times for reminders ("amanhã às 15h", "daqui a 2 dias", "dia 10", ISO).

Resolved in the tenant's time zone; anything ambiguous raises `AmbiguousTime`
with a message the model can act on (ask the customer).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NUMBERS = {
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "quinze": 15,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
}
WEEKDAYS = {
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
}
MONTHS = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
PERIOD_DEFAULTS = {"manha": time(9, 0), "tarde": time(14, 0), "noite": time(19, 0)}
VAGUE = (
    "mais tarde",
    "daqui a pouco",
    "daqui pouco",
    "em breve",
    "qualquer dia",
    "algum dia",
    "fim de semana",
    "final de semana",
    "meia noite",
    "logo mais",
    "outro dia",
)
_NUM = r"(\d{1,3}|" + "|".join(NUMBERS) + r")"
_WD = r"(segunda|terca|quarta|quinta|sexta|sabado|domingo)(?:\s*-?\s*feira)?"
_MON = "(" + "|".join(MONTHS) + ")"


class AmbiguousTime(ValueError):
    """The expression does not name one future instant; the message says what to ask."""


def _normalize(text: str) -> str:
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )
    plain = re.sub(r"[,;!?]|\.(?!\d)", " ", plain).replace("meio-dia", "meio dia")
    return re.sub(r"\s+", " ", plain.replace("meia-noite", "meia noite")).strip()


def _num(token: str) -> int:
    return int(token) if token.isdigit() else NUMBERS[token]


class _Text:
    """The normalised text; recognised parts are cut out so leftovers can be checked."""

    def __init__(self, text: str) -> None:
        self.s = f" {text} "

    def take(self, pattern: str) -> re.Match[str] | None:
        m = re.search(pattern, self.s)
        if m:
            self.s = self.s[: m.start()] + " " + self.s[m.end() :]
        return m


def _iso(raw: str, zone: ZoneInfo, default_time: time) -> datetime | None:
    text = raw.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+([+-]\d{2}:?\d{2}|Z)?)?", text):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AmbiguousTime(f"data inválida: {raw!r}") from exc
    if len(text) == 10:
        value = datetime.combine(value.date(), default_time)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _time_of_day(t: _Text) -> time | None:
    if t.take(r"\b(?:ao |as |a )?meio dia( e meia)?\b"):
        return time(12, 0)
    m = t.take(
        r"\b(?:as |a |ao |das |pras |para as |por volta das )?(\d{1,2})(?:(?::|h)(\d{2})|h|\s*horas?)?"
        r"(?: e meia)?\s*(?:da |de |a )(manha|tarde|noite|madrugada)\b"
    )
    if m:
        hour, minute, period = int(m.group(1)), int(m.group(2) or 0), m.group(3)
        minute = 30 if "e meia" in m.group(0) else minute
        if period in ("tarde", "noite") and hour < 12:
            hour += 12
        if (hour == 12 and period in ("noite", "madrugada")) or hour > 23:
            raise AmbiguousTime(f"horário ambíguo: {m.group(0).strip()!r}")
        return time(hour, minute)
    m = t.take(
        r"\b(?:as |a |ao |pras |para as |por volta das )?(\d{1,2})(?::(\d{2})|h(\d{2})?|\s*horas\b)"
        r"(?: e meia)?"
    )
    if m is None:
        m = t.take(r"\b(?:as|pras|para as|por volta das) (\d{1,2})()()\b(?: e meia)?")
        if m is None:
            return None
    hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
    minute = 30 if m.group(0).rstrip().endswith("e meia") else minute
    if hour > 23 or minute > 59:
        raise AmbiguousTime(f"horário inválido: {m.group(0).strip()!r}")
    explicit = bool(m.group(2) or m.group(3)) or "meia" in m.group(0)
    if 1 <= hour <= 6 and not explicit:
        raise AmbiguousTime(
            f"{hour}h da manhã ou {hour + 12}h? Pergunte o horário exato ao cliente."
        )
    return time(hour, minute)


def _period(t: _Text) -> time | None:
    m = t.take(r"\b(?:de|a|pela|na|no) (manha|tarde|noite)\b")
    return PERIOD_DEFAULTS[m.group(1)] if m else None


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _valid(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise AmbiguousTime(f"data inexistente: {day}/{month}/{year}") from exc


def _relative(t: _Text, now: datetime) -> datetime | date | None:
    m = t.take(
        rf"\b(?:daqui a|daqui|em|dentro de) {_NUM} (minutos?|min|horas?|h|dias?|semanas?|meses|mes)\b"
    )
    if m is None:
        m = t.take(r"\b(?:daqui a|daqui|em|dentro de) (meia) (hora)\b")
        if m is None:
            return None
        return now + timedelta(minutes=30)
    n, unit = _num(m.group(1)), m.group(2)
    if unit.startswith("min"):
        return now + timedelta(minutes=n)
    if unit.startswith("h"):
        return now + timedelta(hours=n)
    if unit.startswith("dia"):
        return now.date() + timedelta(days=n)
    if unit.startswith("semana"):
        return now.date() + timedelta(weeks=n)
    return _add_months(now.date(), n)


def _calendar_day(t: _Text, today: date) -> date | None:
    m = t.take(rf"\b(?:dia )?(\d{{1,2}}) de {_MON}(?: de (\d{{4}}))?\b")
    if m:
        day, month = int(m.group(1)), MONTHS[m.group(2)]
        return _next_date(today, day, month, int(m.group(3)) if m.group(3) else None)
    m = t.take(r"\b(?:dia )?(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
    if m:
        year = int(m.group(3)) if m.group(3) else None
        year = year + 2000 if year is not None and year < 100 else year
        return _next_date(today, int(m.group(1)), int(m.group(2)), year)
    m = t.take(r"\bdia (\d{1,2})\b")
    if m:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            raise AmbiguousTime(f"dia inválido: {day}")
        for months in range(0, 3):
            first = _add_months(today.replace(day=1), months)
            if day <= calendar.monthrange(first.year, first.month)[1]:
                candidate = first.replace(day=day)
                if candidate >= today:
                    return candidate
        raise AmbiguousTime(f"dia {day} de qual mês?")
    return None


def _next_date(today: date, day: int, month: int, year: int | None) -> date:
    if year is not None:
        return _valid(year, month, day)
    for candidate_year in range(today.year, today.year + 5):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise AmbiguousTime(f"data inexistente: {day}/{month}")


def _named_day(t: _Text, today: date) -> date | None:
    if t.take(r"\bdepois de amanha\b"):
        return today + timedelta(days=2)
    if t.take(r"\bamanha\b"):
        return today + timedelta(days=1)
    if t.take(r"\bhoje\b"):
        return today
    next_week = t.take(r"\b(?:da |na )?(?:semana que vem|proxima semana)\b")
    m = t.take(
        rf"\b(?:(proxima|proximo|nesta|neste|essa|esse|esta|este|na|no) )?{_WD}(?: que vem)?\b"
    )
    if m:
        weekday = WEEKDAYS[m.group(2)]
        if next_week:
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
            return monday + timedelta(days=weekday)
        ahead = (weekday - today.weekday()) % 7
        if ahead == 0:
            if m.group(1) in ("proxima", "proximo") or "que vem" in m.group(0):
                return today + timedelta(days=7)
            raise AmbiguousTime(f"hoje ou na próxima {m.group(2)}? Pergunte ao cliente.")
        return today + timedelta(days=ahead)
    if next_week:
        return today + timedelta(weeks=1)
    if t.take(r"\b(?:mes que vem|proximo mes)\b"):
        return _add_months(today, 1)
    return None


def parse_when(text: str, now: datetime, tz: str, *, default_time: time = time(10, 0)) -> datetime:
    """The instant (aware, tenant time zone) an expression names; raises AmbiguousTime."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    iso = _iso(text, zone, default_time)
    if iso is not None:
        return _future(iso, local_now, text)
    t = _Text(_normalize(text))
    if any(f" {v} " in t.s for v in VAGUE):
        raise AmbiguousTime(f"quando exatamente? {text!r} não diz dia e hora.")
    relative = _relative(t, local_now)
    if isinstance(relative, datetime):
        if _named_day(t, local_now.date()) or _time_of_day(t):
            raise AmbiguousTime(f"{text!r} mistura prazo relativo e horário.")
        _no_leftovers(t, text)
        return _future(relative.replace(second=0, microsecond=0), local_now, text)
    day = relative
    for finder in (_calendar_day, _named_day):
        found = finder(t, local_now.date())
        if found is not None:
            if day is not None and found != day:
                raise AmbiguousTime(f"{text!r} cita duas datas diferentes.")
            day = found
    at = _time_of_day(t) or _period(t)
    _no_leftovers(t, text)
    if day is None and at is None:
        raise AmbiguousTime(f"não entendi quando: {text!r}. Peça dia e horário.")
    if day is None:
        day = local_now.date()
        if datetime.combine(day, at or default_time, zone) <= local_now:
            raise AmbiguousTime(f"{at:%H:%M} de hoje já passou; é amanhã?")
    if at is None:
        if day == local_now.date():
            raise AmbiguousTime("hoje a que horas?")
        at = local_now.time().replace(second=0, microsecond=0) if relative else default_time
    return _future(datetime.combine(day, at, zone), local_now, text)


def _no_leftovers(t: _Text, text: str) -> None:
    if re.search(r"\d", t.s):
        raise AmbiguousTime(f"não entendi parte de {text!r}.")


def _future(value: datetime, now: datetime, text: str) -> datetime:
    if value <= now:
        raise AmbiguousTime(f"{text!r} já passou.")
    return value
