"""A lab run as JSON (the API's answer, `--json`) and as a side-by-side text report."""

from __future__ import annotations

import dataclasses
import textwrap
from decimal import Decimal
from typing import Any

from waai.replay_lab.figures import ReplyFigures
from waai.replay_lab.runner import LabReport, ReplySide, TurnReplay
from waai.tools.calendar_hours import zone as tenant_zone

COLUMN = 46


def _sum_cost(figures: list[ReplyFigures]) -> str | None:
    costs = [f.cost_brl for f in figures if f.cost_brl is not None]
    return str(sum(costs, Decimal(0))) if costs else None


def totals(report: LabReport) -> dict[str, Any]:
    """What the whole run comes to, old against new."""
    done = [t for t in report.turns if t.new is not None]
    old = [t.old.figures for t in done]
    new = [t.new.figures for t in done if t.new is not None]
    return {
        "turns": len(report.turns),
        "replayed": len(done),
        "failed": len(report.turns) - len(done),
        "changed": sum(t.changed for t in done),
        "grounded_old": sum(f.grounded is True for f in old),
        "grounded_new": sum(f.grounded is True for f in new),
        "handovers_old": sum(t.old.figures.handover_reason is not None for t in done),
        "handovers_new": sum(f.handover_reason is not None for f in new),
        "tool_calls_old": sum(len(f.tools) for f in old),
        "tool_calls_new": sum(len(f.tools) for f in new),
        "tokens_new": sum((f.tokens_in or 0) + (f.tokens_out or 0) for f in new),
        "cost_brl_old": _sum_cost(old),
        "cost_brl_new": _sum_cost(new),
    }


def _figures(figures: ReplyFigures) -> dict[str, Any]:
    data = dataclasses.asdict(figures)
    data["cost_brl"] = None if figures.cost_brl is None else str(figures.cost_brl)
    return data


def _side(side: ReplySide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {"bubbles": side.bubbles, "by": side.by, "figures": _figures(side.figures)}


def _turn(turn: TurnReplay) -> dict[str, Any]:
    return {
        "conversation_id": turn.conversation_id,
        "contact": turn.contact,
        "at": turn.at.isoformat(),
        "customer": turn.customer,
        "old": _side(turn.old),
        "new": _side(turn.new),
        "changed": turn.changed,
        "error": turn.error,
    }


def as_json(report: LabReport) -> dict[str, Any]:
    """The run as plain JSON values (costs as decimal strings, in R$)."""
    return {
        "client_id": report.tenant_id,
        "candidate": report.candidate.describe(),
        "model": report.model,
        "timezone": report.timezone,
        "limits": dataclasses.asdict(report.limits),
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "totals": totals(report),
        "turns": [_turn(t) for t in report.turns],
    }


def _brl(value: Decimal | str) -> str:
    """R$ as the owners read it: a decimal comma, to the hundred-thousandth."""
    return f"R$ {Decimal(value):.5f}".replace(".", ",")


def _figure_line(figures: ReplyFigures) -> list[str]:
    if figures.model is None and figures.grounded is None:
        return ["(sem registro de uso)"]
    parts = []
    if figures.model is not None:
        parts.append(f"{figures.model} {figures.tokens_in}+{figures.tokens_out} tok")
    if figures.cost_brl is not None:
        parts.append(_brl(figures.cost_brl))
    if figures.passages is not None:
        parts.append(f"{figures.passages} trecho(s)")
    if figures.grounded is not None:
        parts.append("fundamentada" if figures.grounded else "NÃO fundamentada")
    if figures.tools:
        shown = [f"{t}*" if t in figures.dry_run_tools else t for t in figures.tools]
        parts.append("ferramentas: " + ", ".join(shown))
    if figures.handover_reason:
        parts.append(f"transferida: {figures.handover_reason}")
    return [" · ".join(parts)]


def _column(side: ReplySide | None, error: str | None) -> list[str]:
    if side is None:
        return [f"(erro: {error})"]
    lines: list[str] = []
    for bubble in side.bubbles or ["(sem resposta)"]:
        lines += textwrap.wrap(bubble, COLUMN) or [""]
    lines.append("-" * 8)
    for line in _figure_line(side.figures):
        lines += textwrap.wrap(line, COLUMN)
    return lines


def as_text(report: LabReport) -> str:
    """Old and new replies side by side, turn by turn, with the totals at the end."""
    out = [
        f"Replay lab · cliente {report.tenant_id} · modelo {report.model}"
        f" · {len(report.turns)} turnos",
        "",
    ]
    zone = tenant_zone(report.timezone)
    for turn in report.turns:
        out.append(
            f"== conversa {turn.contact} · {turn.at.astimezone(zone):%d/%m/%Y %H:%M}"
            + (" · MUDOU" if turn.changed else "")
        )
        for text in turn.customer:
            out += textwrap.wrap(f"cliente: {text}", COLUMN * 2 + 3) or ["cliente:"]
        left = [f"antes ({turn.old.by or 'ninguém'})", *_column(turn.old, None)]
        right = ["depois (candidato)", *_column(turn.new, turn.error)]
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            out.append(f"{a:<{COLUMN}} | {b}".rstrip())
        out.append("")
    summary = totals(report)
    for key in ("cost_brl_old", "cost_brl_new"):
        summary[key] = _brl(summary[key]) if summary[key] is not None else "—"
    out.append(
        "Total: {replayed}/{turns} turnos refeitos, {changed} mudaram, {failed} falharam;"
        " fundamentadas {grounded_old} -> {grounded_new}; transferências {handovers_old} ->"
        " {handovers_new}; ferramentas {tool_calls_old} -> {tool_calls_new};"
        " custo {cost_brl_old} -> {cost_brl_new}".format(**summary)
    )
    out.append("(* ferramenta simulada, não executada; nada foi enviado a nenhum cliente)")
    return "\n".join(out)
