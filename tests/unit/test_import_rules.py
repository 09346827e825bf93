"""Who may import whom (docs/architecture.md, "The libraries"), read from the source's AST.

Every module under `libs/` and `services/` is parsed and all its imports are collected,
module-level and function-level alike:
- a service imports the libraries and itself, never another service;
- a library imports no service and nothing of `tests`;
- between the libraries, only what `LIB_MAY_IMPORT` lists (wacommon <- waai <- walocal).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# a library may import itself and these; a library not listed here fails the test, so a
# new one has to declare its place
LIB_MAY_IMPORT: dict[str, frozenset[str]] = {
    "wacommon": frozenset(),
    "waai": frozenset({"wacommon"}),
    "walocal": frozenset({"wacommon", "waai"}),
}


def _packages(kind: str) -> dict[str, Path]:
    """Top-level packages under `libs/*/` or `services/*/` (name -> folder)."""
    return {
        init.parent.name: init.parent
        for init in sorted((ROOT / kind).glob("*/*/__init__.py"))
        if ".egg-info" not in str(init)
    }


LIBS = _packages("libs")
SERVICES = _packages("services")


def imported_roots(source: str, own: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import in `source`; relative imports are `own`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, own
            elif node.module:
                yield node.lineno, node.module.split(".")[0]


def violations(package: str, folder: Path, allowed: frozenset[str]) -> list[str]:
    """`path:line imports X` for each import of one of ours (or tests) outside `allowed`."""
    ours = set(LIBS) | set(SERVICES) | {"tests"}
    found = []
    for path in sorted(folder.rglob("*.py")):
        for line, root in imported_roots(path.read_text(), package):
            if root in ours and root != package and root not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {root}")
    return found


def test_the_packages_are_found() -> None:
    # guards the walk itself: an empty glob would make every rule below pass
    assert {"wacommon", "waai", "walocal"} <= set(LIBS)
    assert {"rag_worker", "meta_gateway", "followup", "sender"} <= set(SERVICES)


def test_every_library_declares_what_it_may_import() -> None:
    assert set(LIBS) == set(LIB_MAY_IMPORT)


def test_function_level_and_relative_imports_are_seen() -> None:
    source = (
        "import os\n"
        "from . import sibling\n"
        "def f():\n"
        "    from rag_worker.handlers import x\n"
        "    import tests.fakes.server\n"
    )
    assert list(imported_roots(source, "waai")) == [
        (1, "os"),
        (2, "waai"),
        (4, "rag_worker"),
        (5, "tests"),
    ]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_imports_no_other_service(service: str) -> None:
    assert violations(service, SERVICES[service], frozenset(LIBS)) == []


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_a_library_imports_no_service_nor_tests_and_keeps_its_layer(lib: str) -> None:
    assert violations(lib, LIBS[lib], LIB_MAY_IMPORT.get(lib, frozenset())) == []
