"""Routing keys are spelled in `wacommon.broker.topology` only, read from the source's AST.

A key written by hand elsewhere (`"webhook.meta.v1"`, `f"webhook.{p}.v1"`) drifts from the
bindings the topology declares; publishers pass none (`topology.routing_key(message)`).
Docstrings may name keys: they are prose, not code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "libs" / "common" / "wacommon" / "broker" / "topology.py"
# a whole key (`reply.send.v1`), an f-string key's head (`webhook.`) or its versioned tail
# (`.v1`); a message type (`webhook.received`) is not a key
KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+\.v\d+$|^webhook\.$|\.v\d+$")


def _sources() -> Iterator[Path]:
    for top in ("libs", "services", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != TOPOLOGY and ".egg-info" not in str(path):
                yield path


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def routing_key_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _docstrings(tree)
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and KEY.search(node.value)
    ]


def test_the_pattern_finds_the_keys_it_is_meant_to_find() -> None:
    source = 'A = "webhook.meta.v1"\nB = f"webhook.{p}.v1"\nC = "reply.send.v1"\nD = "a/v1"\n'
    tree = ast.parse(source)
    hits = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and KEY.search(n.value)
    ]
    assert sorted(hits) == [".v1", "reply.send.v1", "webhook.", "webhook.meta.v1"]


def test_no_routing_key_is_written_outside_the_topology() -> None:
    found = [hit for path in _sources() for hit in routing_key_literals(path)]
    assert found == []
