"""Every service has the one shape (docs/architecture.md, "The service skeleton").

Read from the source's AST, and from the settings classes themselves:
- every service has `main.py`, `settings.py` and `deps.py`; the services whose work is
  messages or scheduled items also have `handlers.py`;
- `main.py` defines the one composition root, `bootstrap`, and the entry point `main`;
- `settings.py` subclasses the shared `wacommon.infra.settings.Settings` under the service's name;
- `handlers.py` (and followup's `reminders.py`) imports no database driver and holds no
  SQL; a broker consumer's names one handler per message type in `HANDLERS`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from wacommon.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = "bootstrap"
# the names a composition root had before there was one
OLD_ROOTS = frozenset({"create_app", "make_app", "build_service"})
REQUIRED = ("main.py", "settings.py", "deps.py")
# broker consumers: one handler per message type, dispatched by type (`HANDLERS`)
CONSUMERS = frozenset({"rag_worker", "sender", "lancepilot_ingest"})
# a scheduled loop's handlers (a due follow-up, a due reminder), called by the scan
SCHEDULED = frozenset({"followup"})
# handler modules besides handlers.py, held to the same rule (a reminder is its own item type)
MORE_HANDLERS: dict[str, tuple[str, ...]] = {"followup": ("reminders.py",)}
# HTTP services: their routers are their handlers (no handlers.py forced on them)
ROUTERS = frozenset({"meta_gateway", "metrics", "console"})
DRIVERS = frozenset({"asyncpg", "psycopg", "psycopg2", "sqlalchemy"})
SQL = re.compile(
    r"\b(SELECT\s.+?\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|ON\s+CONFLICT)\b",
    re.IGNORECASE | re.DOTALL,
)


def _packages() -> dict[str, Path]:
    return {
        init.parent.name: init.parent
        for init in sorted((ROOT / "services").glob("*/*/__init__.py"))
        if ".egg-info" not in str(init)
    }


SERVICES = _packages()


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (prose may name SQL words; code may not)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def handler_problems(path: Path, *, consumer: bool) -> list[str]:
    """What in a handlers.py breaks the rule (empty: it follows it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    problems: list[str] = []
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots = {node.module.split(".")[0]}
        else:
            roots = set()
        for driver in sorted(roots & DRIVERS):
            problems.append(f"{path}:{node.lineno} imports {driver}")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and SQL.search(node.value)
        ):
            problems.append(f"{path}:{node.lineno} has SQL: {node.value[:60]!r}")
    if consumer and "HANDLERS" not in _top_level_names(tree):
        problems.append(f"{path}: no HANDLERS (one handler per message type)")
    return problems


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def skeleton_problems(package: Path) -> list[str]:
    """What in a service package breaks the shape (empty: it follows it)."""
    name = package.name
    with_handlers = name in CONSUMERS or name in SCHEDULED
    problems = [
        f"{name}: no {module}"
        for module in (*REQUIRED, *(("handlers.py",) if with_handlers else ()))
        if not (package / module).is_file()
    ]
    main = package / "main.py"
    if main.is_file():
        defined = _top_level_names(ast.parse(main.read_text(), filename=str(main)))
        if COMPOSITION_ROOT not in defined:
            problems.append(f"{name}: main.py defines no `{COMPOSITION_ROOT}`")
        if "main" not in defined:
            problems.append(f"{name}: main.py defines no `main` (the `python -m` entry point)")
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in OLD_ROOTS:
                problems.append(f"{path}: `{node.name}` (the composition root is `bootstrap`)")
    handlers = package / "handlers.py"
    if handlers.is_file():
        problems += handler_problems(handlers, consumer=name in CONSUMERS)
    for module in MORE_HANDLERS.get(name, ()):
        problems += handler_problems(package / module, consumer=False)
    return problems


def test_every_service_is_classified() -> None:
    assert set(SERVICES) == CONSUMERS | SCHEDULED | ROUTERS


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_service_has_the_one_shape(name: str) -> None:
    assert skeleton_problems(SERVICES[name]) == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_settings_are_the_shared_ones_under_the_service_name(name: str) -> None:
    module = importlib.import_module(f"{name}.settings")
    own = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Settings) and cls is not Settings and cls.__module__ == module.__name__
    ]
    assert len(own) == 1, own
    assert own[0].model_fields["service_name"].default == name.replace("_", "-")


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_a_consumer_dispatches_every_message_type_to_a_handler_of_its_module(name: str) -> None:
    module = importlib.import_module(f"{name}.handlers")
    handlers = module.HANDLERS
    assert handlers
    for message_type, handler in handlers.items():
        assert handler.__module__ == module.__name__
        assert handler.__name__.startswith("handle_"), (message_type, handler)


def _service(tmp_path: Path, files: dict[str, str], name: str = "sender") -> Path:
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for file, text in files.items():
        (package / file).write_text(text)
    return package


GOOD_MAIN = "def bootstrap(settings, rt): ...\n\n\ndef main() -> None: ...\n"
GOOD_HANDLERS = (
    '"""Handlers: SELECT nothing FROM here (a docstring may say it)."""\n'
    "from wacommon.repositories import outbox\n\n"
    "async def handle_send_reply(msg, delivery, *, deps): ...\n\n"
    "HANDLERS = {object: handle_send_reply}\n"
)


def test_a_service_that_follows_the_shape_has_no_problems(tmp_path: Path) -> None:
    package = _service(
        tmp_path,
        {"main.py": GOOD_MAIN, "settings.py": "", "deps.py": "", "handlers.py": GOOD_HANDLERS},
    )
    assert skeleton_problems(package) == []


def test_a_service_that_breaks_the_shape_is_named_with_each_break(tmp_path: Path) -> None:
    handlers = (
        "import asyncpg\n"
        "from asyncpg.exceptions import PostgresError\n\n"
        "async def handle_send_reply(msg, delivery, *, deps):\n"
        '    await deps.pool.execute("update chat_messages set status = $1", "sent")\n'
        '    await deps.pool.fetch(f"SELECT id FROM outbox WHERE id = {msg.id}")\n'
    )
    package = _service(
        tmp_path,
        {
            "main.py": "def create_app(runtime): ...\n",
            "settings.py": "",
            "handlers.py": handlers,
        },
    )
    problems = "\n".join(skeleton_problems(package))
    for expected in (
        "no deps.py",
        "defines no `bootstrap`",
        "defines no `main`",
        "`create_app` (the composition root is `bootstrap`)",
        ":1 imports asyncpg",
        ":2 imports asyncpg",
        ":5 has SQL: 'update chat_messages set",
        ":6 has SQL: 'SELECT id FROM outbox",
        "no HANDLERS",
    ):
        assert expected in problems
