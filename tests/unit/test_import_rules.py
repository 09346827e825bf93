"""Who may import whom (docs/architecture.md, "The libraries"), read from the source's AST.

Every module under `libs/` and `services/` is parsed and all its imports are collected,
module-level and function-level alike. A *unit* is a service, a library (`waai`, `walocal`),
or one subpackage (kind) of `wacommon` (`wacommon.infra`, `wacommon.conversation`, ...):
- a service imports the libraries and itself, never another service, and neither `walocal`
  (the local set-up) nor `wacommon.ops` (operator command lines);
- a library imports no service and nothing of `tests`;
- a unit of the libraries imports itself and what `MAY_IMPORT` lists for it, nothing else:
  the layers of `wacommon` from `infra` up, then `waai`, then `walocal`;
- `wacommon/` holds subpackages only: a module left loose there has no kind and fails.
The last test builds a small tree that breaks each rule and checks each break is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INFRA = "wacommon.infra"
WEB = "wacommon.web"
BROKER = "wacommon.broker"
MIGRATIONS = "wacommon.migrations"
PROVIDERS = "wacommon.providers"
REPOSITORIES = "wacommon.repositories"
TENANTS = "wacommon.tenants"
CONVERSATION = "wacommon.conversation"
METRICS = "wacommon.metrics"
CONSOLE = "wacommon.console"
SERVICE = "wacommon.service"
OPS = "wacommon.ops"
PRODUCT = {INFRA, WEB, BROKER, PROVIDERS, REPOSITORIES, TENANTS, CONVERSATION, METRICS}

# a unit of the libraries may import itself and these; a unit not listed here fails the
# test, so a new subpackage (or library) has to declare its place
MAY_IMPORT: dict[str, frozenset[str]] = {
    INFRA: frozenset(),
    WEB: frozenset({INFRA}),
    BROKER: frozenset({INFRA}),
    MIGRATIONS: frozenset({INFRA}),
    TENANTS: frozenset({INFRA}),
    PROVIDERS: frozenset({INFRA, WEB, BROKER}),
    REPOSITORIES: frozenset({INFRA, BROKER, PROVIDERS}),
    CONVERSATION: frozenset({INFRA, BROKER, PROVIDERS, REPOSITORIES, TENANTS}),
    METRICS: frozenset({INFRA, REPOSITORIES}),
    CONSOLE: frozenset({INFRA, PROVIDERS, REPOSITORIES}),
    SERVICE: frozenset({INFRA, WEB, BROKER, MIGRATIONS, REPOSITORIES}),
    OPS: frozenset({INFRA, BROKER, MIGRATIONS, PROVIDERS, REPOSITORIES, TENANTS}),
    "waai": frozenset(PRODUCT),
    "walocal": frozenset({*PRODUCT, MIGRATIONS, CONSOLE, SERVICE, OPS, "waai"}),
}
# what no service imports, whatever it may import of the libraries otherwise
SERVICES_NEVER_IMPORT = frozenset({"walocal", OPS})


def unit_of_module(module: str) -> str:
    """`wacommon.infra.settings.Settings` -> `wacommon.infra`; `rag_worker.x` -> `rag_worker`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "wacommon" else parts[0]


def imported_modules(source: str, own: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in `source`; relative imports are `own`.

    `from a import b` is `a.b`: `b` may be a module (`from wacommon import infra`), and a
    name inside `a` has the unit of `a` anyway.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, own
            elif node.module:
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"


class Tree:
    """The units of one checkout (the repository, or a test's small copy of its shape)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.libs = self._packages("libs")
        self.services = self._packages("services")
        self.ours = set(self.libs) | set(self.services) | {"tests"}

    def _packages(self, kind: str) -> dict[str, Path]:
        """Top-level packages under `libs/*/` or `services/*/` (name -> folder)."""
        return {
            init.parent.name: init.parent
            for init in sorted((self.root / kind).glob("*/*/__init__.py"))
            if ".egg-info" not in str(init)
        }

    def lib_units(self) -> dict[str, list[Path]]:
        """Each library unit and its modules; `wacommon` is split by subpackage."""
        units: dict[str, list[Path]] = {}
        for name, folder in self.libs.items():
            for path in sorted(folder.rglob("*.py")):
                rel = path.relative_to(folder).parts
                if name != "wacommon":
                    unit = name
                elif len(rel) > 1:
                    unit = f"wacommon.{rel[0]}"
                elif rel[0] == "__init__.py":
                    continue  # the namespace itself: empty
                else:
                    unit = f"wacommon.{path.stem}"  # loose: a unit nobody declared
                units.setdefault(unit, []).append(path)
        return units

    def outside(self, own: str, paths: list[Path], allowed: set[str]) -> list[str]:
        """`path:line imports M` for each import of one of ours outside `own` and `allowed`."""
        found = []
        for path in paths:
            for line, module in imported_modules(path.read_text(), own):
                unit = unit_of_module(module)
                if module.split(".")[0] not in self.ours or unit in {own, "wacommon"}:
                    continue
                if unit not in allowed:
                    found.append(f"{path.relative_to(self.root)}:{line} imports {module}")
        return found

    def service_violations(self, service: str) -> list[str]:
        paths = sorted(self.services[service].rglob("*.py"))
        libs = {unit_of_module(u) for u in self.lib_units()} | set(self.libs)
        return self.outside(service, paths, libs - SERVICES_NEVER_IMPORT)

    def lib_violations(self, unit: str) -> list[str]:
        paths = self.lib_units()[unit]
        if unit not in MAY_IMPORT:
            return [f"{p.relative_to(self.root)}: {unit} has no place in MAY_IMPORT" for p in paths]
        return self.outside(unit, paths, set(MAY_IMPORT[unit]))

    def violations(self) -> list[str]:
        found = [v for s in sorted(self.services) for v in self.service_violations(s)]
        return found + [v for u in sorted(self.lib_units()) for v in self.lib_violations(u)]


REPO = Tree(ROOT)


def test_the_packages_are_found() -> None:
    # guards the walk itself: an empty glob would make every rule below pass
    assert {"wacommon", "waai", "walocal"} <= set(REPO.libs)
    assert {"rag_worker", "meta_gateway", "followup", "sender"} <= set(REPO.services)
    assert {INFRA, CONVERSATION, "waai", "walocal"} <= set(REPO.lib_units())


def test_every_unit_declares_what_it_may_import_and_wacommon_holds_no_loose_module() -> None:
    assert set(REPO.lib_units()) == set(MAY_IMPORT)
    loose = [p.name for p in (ROOT / "libs/common/wacommon").glob("*.py")]
    assert loose == ["__init__.py"]


def test_function_level_relative_and_from_package_imports_are_seen() -> None:
    source = (
        "import os\n"
        "from . import sibling\n"
        "from wacommon import conversation\n"
        "def f():\n"
        "    from rag_worker.handlers import x\n"
        "    import tests.fakes.server\n"
    )
    found = [(line, unit_of_module(m)) for line, m in imported_modules(source, "waai")]
    assert found == [
        (1, "os"),
        (2, "waai"),
        (3, CONVERSATION),
        (5, "rag_worker"),
        (6, "tests"),
    ]


@pytest.mark.parametrize("service", sorted(REPO.services))
def test_a_service_imports_no_other_service(service: str) -> None:
    assert REPO.service_violations(service) == []


@pytest.mark.parametrize("unit", sorted(REPO.lib_units()))
def test_a_library_imports_no_service_nor_tests_and_keeps_its_layer(unit: str) -> None:
    assert REPO.lib_violations(unit) == []


def test_each_broken_rule_is_reported(tmp_path: Path) -> None:
    files = {
        "libs/common/wacommon/__init__.py": "",
        "libs/common/wacommon/infra/__init__.py": "",
        "libs/common/wacommon/infra/db.py": "import wacommon.infra.settings\n",
        "libs/common/wacommon/infra/settings.py": (
            "from wacommon.conversation import state\n"  # infra reaches up a layer
        ),
        "libs/common/wacommon/conversation/state.py": "from wacommon.infra import db\n",
        "libs/common/wacommon/loose.py": "",  # no kind
        "libs/ai/waai/__init__.py": (
            "def f():\n    from rag_worker.handlers import handle\n"  # a library -> service
        ),
        "libs/local/walocal/__init__.py": "import tests.fakes\n",  # a library -> tests
        "services/rag-worker/rag_worker/__init__.py": "",
        "services/rag-worker/rag_worker/handlers.py": (
            "from wacommon.conversation.state import resume\n"
            "from sender.handlers import send\n"  # a service -> another service
            "from walocal import supervisor\n"  # a service -> the local set-up
        ),
        "services/sender/sender/__init__.py": "",
        "services/sender/sender/handlers.py": "from wacommon.infra import db\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert Tree(tmp_path).violations() == [
        "services/rag-worker/rag_worker/handlers.py:2 imports sender.handlers.send",
        "services/rag-worker/rag_worker/handlers.py:3 imports walocal.supervisor",
        "libs/ai/waai/__init__.py:2 imports rag_worker.handlers.handle",
        "libs/common/wacommon/infra/settings.py:1 imports wacommon.conversation.state",
        "libs/common/wacommon/loose.py: wacommon.loose has no place in MAY_IMPORT",
        "libs/local/walocal/__init__.py:1 imports tests.fakes",
    ]
