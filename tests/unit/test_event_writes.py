"""One way to write events (docs/architecture.md, "An event commits iff its effect does").

Read from the source: only `wacommon.repositories.events` spells the insert into `conversation_events`
(statements that write their own events use its `INSERT_EVENTS`), and no code chooses a
path by the kind of event log it holds, so tests run what production runs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITER = ROOT / "libs/common/wacommon/repositories/events.py"
INSERT = re.compile(r"INSERT\s+INTO\s+conversation_events\b", re.IGNORECASE)
LOG_CLASSES = {"EventLog", "PgEventLog", "BufferedEventLog", "NullEventLog", "FakeEventLog"}


def _sources() -> list[Path]:
    paths = [*ROOT.glob("libs/*/*/**/*.py"), *ROOT.glob("services/*/*/**/*.py")]
    return sorted(p for p in paths if ".egg-info" not in str(p))


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def test_the_sources_are_found() -> None:
    # guards the walk: an empty glob would make the rules below pass
    found = _sources()
    assert WRITER in found
    assert any("rag_worker" in str(p) for p in found)


def test_only_the_event_module_spells_the_insert() -> None:
    spelled = [
        str(p.relative_to(ROOT)) for p in _sources() if p != WRITER and INSERT.search(p.read_text())
    ]
    assert spelled == []


def test_no_code_branches_on_the_kind_of_event_log() -> None:
    branches = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"isinstance", "type"}
                and len(node.args) >= 1
                and _names(node.args[-1]) & LOG_CLASSES
            ):
                branches.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert branches == []
