"""bench/compare.py's arithmetic: rounds add up, per-message figures and ratios, the verdicts."""

from __future__ import annotations

import pytest

from bench.compare import POSTGRES, RABBITMQ, Figures, baseline_dir, comparison_lines, ratio

SERVICES = ("meta-gateway", "sender")


def figures(gateway: float, sender: float, pg: float, mq: float, replies: int) -> Figures:
    cpu = {"meta-gateway": gateway, "sender": sender, POSTGRES: pg, RABBITMQ: mq, "fake-graph": 0.1}
    return Figures(cpu, replies, commits=3 * replies, wall=10.0, machine=5.0, generator=0.5)


def row(lines: list[str], name: str) -> list[str]:
    [line] = [text for text in lines if text.strip().startswith(name)]
    return line.split()


def test_ratio_is_current_over_baseline_and_na_without_a_baseline() -> None:
    assert ratio(2.0, 1.0) == "0.50 ×"
    assert ratio(0.0, 1.0) == "n/a"
    assert ratio(float("nan"), 1.0) == "n/a"


def test_rounds_add_up_process_by_process() -> None:
    total = figures(1.0, 2.0, 3.0, 4.0, 1000) + figures(1.0, 2.0, 3.0, 4.0, 1000)
    assert total.replies == 2000
    assert total.cpu["sender"] == 4.0
    assert total.per_message_ms("meta-gateway", "sender") == 3.0


def test_lines_give_each_process_both_groups_and_the_verdicts() -> None:
    base = figures(1.0, 3.0, 2.0, 2.0, 1000)  # ms per message: 1, 3; ours 4; servers 4
    current = figures(0.5, 1.0, 1.0, 1.5, 1000)  # 0.5, 1; ours 1.5; servers 2.5
    lines = comparison_lines(base, current, SERVICES, "A", "B")
    assert row(lines, "meta-gateway")[1:] == ["1.00", "0.50", "0.50", "×"]
    assert row(lines, "our 2 services")[3:] == ["4.00", "1.50", "0.38", "×"]
    assert row(lines, "PostgreSQL + RabbitMQ")[3:] == ["4.00", "2.50", "0.62", "×"]
    assert row(lines, "fake-graph")[1:3] == ["0.10", "0.10"]
    assert row(lines, "PG commits per message")[4:6] == ["3.0", "3.0"]
    assert "load generator 1.00 ×, fake Graph API 1.00 ×" in lines[-2]
    assert lines[-1].endswith(
        "our services <= 0.5 × baseline: met; PostgreSQL + RabbitMQ <= 0.7 ×: met"
    )
    slower = comparison_lines(base, figures(0.5, 2.0, 2.0, 1.0, 1000), SERVICES, "A", "B")
    assert "baseline: MISSED; PostgreSQL + RabbitMQ <= 0.7 ×: MISSED" in slower[-1]


def test_baseline_folder_is_per_commit_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_BASELINE_DIR", "/somewhere")
    assert (
        str(baseline_dir("382720be63cd0f96bbf475b68af4c6f9d6cd3e12")) == "/somewhere/382720be63cd"
    )
