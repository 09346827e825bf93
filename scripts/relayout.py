"""Lay `libs/` out by kind (issue 17): move `wacommon`'s flat modules into subpackages.

    .venv/bin/python scripts/relayout.py [--root DIR] [--dry-run] [--no-ruff]

One run does the whole change on any checkout, and a second run changes nothing:
1. every module of `MOVES` is moved (`git mv` inside a git work tree) to its new place, the
   new subpackages get an `__init__.py` holding only a docstring (`PACKAGES`), and
   `wacommon/tenants/__init__.py` stops re-exporting (its names are rewritten to the
   submodule that defines them, `SYMBOLS`);
2. every text file under the root (Python, Markdown, TOML, YAML, Makefile, shell, SQL
   comments, ...) has its references rewritten: `from wacommon import X` statements (read
   with `ast`, so parenthesised and multi-name forms are exact), then every dotted name
   `wacommon.X...` (imports, `-m` targets, entry points, patch targets, prose) and every
   path `[libs/common/]wacommon/X.py`;
3. the Python files it changed get `ruff check --select I --fix` and `ruff format`, since
   a rewritten import may now sort elsewhere or run past the line length.

No new name starts with an old one (`wacommon.settings` -> `wacommon.infra.settings`: the
old pattern needs `settings` right after `wacommon.`), which is what makes a second run a
no-op. A module left loose in `wacommon/` (one added after this map was written) is
named at the end and the exit status is 1: add it to `MOVES` and run again. So is an
import the rewrite could not reach (a `from wacommon import X` sharing its line with other
code). A run that must refuse (a module present at both places, a re-export it does not
know) refuses before it changes anything.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# where each library's top-level package lives, relative to the root
LIB_DIRS = {"wacommon": "libs/common", "waai": "libs/ai", "walocal": "libs/local"}

# old module -> new module (the map of docs/architecture.md, "The libraries")
MOVES: dict[str, str] = {
    # process plumbing that knows nothing of the product
    "wacommon.settings": "wacommon.infra.settings",
    "wacommon.logging": "wacommon.infra.logging",
    "wacommon.db": "wacommon.infra.db",
    "wacommon.dbtypes": "wacommon.infra.dbtypes",
    "wacommon.errors": "wacommon.infra.errors",
    "wacommon.infra_errors": "wacommon.infra.infra_errors",
    "wacommon.dependencies": "wacommon.infra.dependencies",
    "wacommon.cache": "wacommon.infra.cache",
    "wacommon.crypto": "wacommon.infra.crypto",
    "wacommon.netguard": "wacommon.infra.netguard",
    "wacommon.sandbox": "wacommon.infra.sandbox",
    "wacommon.sandbox_child": "wacommon.infra.sandbox_child",
    "wacommon.textclean": "wacommon.infra.textclean",
    "wacommon.startup_checks": "wacommon.infra.startup_checks",
    # the HTTP edge's shapes: body cap, the 4xx body, request field types
    "wacommon.api_types": "wacommon.web.api_types",
    "wacommon.body_limit": "wacommon.web.body_limit",
    "wacommon.http_errors": "wacommon.web.http_errors",
    # what travels on the broker
    "wacommon.schemas": "wacommon.broker.schemas",
    "wacommon.notify": "wacommon.broker.notify",
    # one service process: its resources and lifecycle, its HTTP shell
    "wacommon.runtime": "wacommon.service.runtime",
    "wacommon.http": "wacommon.service.http",
    # provider credentials resolve with the provider's legacy fallbacks
    "wacommon.credentials": "wacommon.providers.credentials",
    # the event log is a table like the others
    "wacommon.events": "wacommon.repositories.events",
    "wacommon.event_types": "wacommon.repositories.event_types",
    # read by the tenant's sections
    "wacommon.flags": "wacommon.tenants.flags",
    "wacommon.contact_filter": "wacommon.tenants.contact_filter",
    # the conversation's rules
    "wacommon.conversation_state": "wacommon.conversation.state",
    "wacommon.bot_gate": "wacommon.conversation.bot_gate",
    "wacommon.business_hours": "wacommon.conversation.business_hours",
    "wacommon.commands": "wacommon.conversation.commands",
    "wacommon.followups": "wacommon.conversation.followups",
    "wacommon.handover_alerts": "wacommon.conversation.handover_alerts",
    "wacommon.human_reply": "wacommon.conversation.human_reply",
    "wacommon.human_send": "wacommon.conversation.human_send",
    "wacommon.lead_context": "wacommon.conversation.lead_context",
    "wacommon.reminders": "wacommon.conversation.reminders",
    "wacommon.reminder_time": "wacommon.conversation.reminder_time",
    # the metrics rollup and its readers
    "wacommon.metrics_live": "wacommon.metrics.live",
    "wacommon.metrics_merge_sql": "wacommon.metrics.merge_sql",
    "wacommon.metrics_prices": "wacommon.metrics.prices",
    "wacommon.metrics_rollup_sql": "wacommon.metrics.rollup_sql",
    # what the console and the operator's admin API share
    "wacommon.console_users": "wacommon.console.users",
    "wacommon.passwords": "wacommon.console.passwords",
    "wacommon.meta_signup": "wacommon.console.meta_signup",
    # operator command lines run against a live deployment
    "wacommon.replay": "wacommon.ops.replay",
    "wacommon.legacy": "wacommon.ops.legacy",
    "wacommon.reseal": "wacommon.ops.reseal",
    # `make run` (wa-run) only: no deployment runs the services under it
    "wacommon.supervisor": "walocal.supervisor",
}

# new subpackages and the one docstring their `__init__.py` holds (no imports: importing a
# module never costs its siblings, and no package-level import can close a cycle)
PACKAGES: dict[str, str] = {
    "wacommon.infra": "Process plumbing that knows nothing of the product: settings, logging, "
    "database, errors, secrets, outgoing-HTTP guard, sandboxed parsing.",
    "wacommon.web": "The HTTP edge's shapes: the body cap, the 4xx body, request field types.",
    "wacommon.service": "One service process: its resources and lifecycle (`runtime`) and its "
    "HTTP shell (`http`).",
    "wacommon.conversation": "The conversation's rules: its state machine, the bot's gate, "
    "commands, hours, handovers, follow-ups, reminders, lead context.",
    "wacommon.metrics": "The metrics rollup (`conversation_events` -> `metrics_daily`), its "
    "live reading of today, and the model prices.",
    "wacommon.console": "What the console and the operator's admin API share: accounts, "
    "passwords, Meta's Embedded Signup.",
    "wacommon.ops": "Operator command lines run against a live deployment: `wa-replay`, "
    "legacy credentials, re-sealing secrets.",
    "wacommon.tenants": "Tenant configuration: typed sections, and the directory every service "
    "reads them through.",
}

# names a package re-exported, now imported from the submodule that defines them
SYMBOLS: dict[str, dict[str, str]] = {
    "wacommon.tenants": {
        "TenantConfig": "wacommon.tenants.config",
        "parse_tenant": "wacommon.tenants.config",
        "PgTenantDirectory": "wacommon.tenants.directory",
        "TenantDirectory": "wacommon.tenants.directory",
    },
}

SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "build",
    "dist",
}
# the script and its test hold the old names as data
SKIP_FILES = {"scripts/relayout.py", "tests/unit/test_relayout.py"}


def module_path(module: str) -> str:
    """`wacommon.infra.settings` -> `libs/common/wacommon/infra/settings.py`."""
    top, *rest = module.split(".")
    return "/".join([LIB_DIRS[top], top, *rest]) + ".py"


def package_dir(package: str) -> str:
    top, *rest = package.split(".")
    return "/".join([LIB_DIRS[top], top, *rest])


def _name_alternation(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


_OLD_LEAVES = {old.split(".", 1)[1]: new for old, new in MOVES.items()}
_DOTTED = re.compile(rf"(?<![\w.])wacommon\.({_name_alternation(list(_OLD_LEAVES))})(?!\w)")
_FULL_PATH = re.compile(
    rf"(?<![\w.-])libs/common/wacommon/({_name_alternation(list(_OLD_LEAVES))})\.py(?!\w)"
)
_SHORT_PATH = re.compile(
    rf"(?<![\w./-])wacommon/({_name_alternation(list(_OLD_LEAVES))})\.py(?!\w)"
)
_SYMBOL_REFS = [
    (
        re.compile(rf"(?<![\w.]){re.escape(pkg)}\.({_name_alternation(list(names))})(?!\w)"),
        names,
    )
    for pkg, names in SYMBOLS.items()
]
# a one-line `from wacommon import ...` outside Python sources (docs, snippets)
_FROM_LINE = re.compile(r"^([ \t>]*)from (wacommon(?:\.tenants)?) import ([\w ,]+?)[ \t]*$", re.M)


def _split(module: str) -> tuple[str, str]:
    parent, _, leaf = module.rpartition(".")
    return parent, leaf


def _relocate(package: str, name: str) -> str | None:
    """Where `from <package> import <name>` must now import `name` from, or None."""
    if package == "wacommon" and f"wacommon.{name}" in MOVES:
        return _split(MOVES[f"wacommon.{name}"])[0]
    return SYMBOLS.get(package, {}).get(name)


def _rewritten_from(package: str, names: list[tuple[str, str | None]]) -> list[str] | None:
    """`from package import names` as statements that import each name from where it lives.

    None when nothing moved. A moved module whose leaf changed keeps the name the code
    uses (`from wacommon import conversation_state` ->
    `from wacommon.conversation import state as conversation_state`).
    """
    if not any(_relocate(package, name) for name, _ in names):
        return None
    groups: dict[str, list[str]] = {}
    for name, asname in names:
        target = _relocate(package, name)
        if target is None:
            groups.setdefault(package, []).append(name if asname is None else f"{name} as {asname}")
            continue
        new_name = name
        if package == "wacommon":
            new_name = _split(MOVES[f"wacommon.{name}"])[1]
        bound = asname or name
        groups.setdefault(target, []).append(
            new_name if bound == new_name else f"{new_name} as {bound}"
        )
    return [f"from {pkg} import {', '.join(items)}" for pkg, items in groups.items()]


def _rewrite_python_from_imports(text: str) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    edits: list[tuple[int, int, int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
            continue
        if node.module != "wacommon" and node.module not in SYMBOLS:
            continue
        statements = _rewritten_from(node.module, [(a.name, a.asname) for a in node.names])
        if statements is None or node.end_lineno is None or node.end_col_offset is None:
            continue
        edits.append(
            (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, statements)
        )
    if not edits:
        return text
    lines = text.splitlines(keepends=True)
    for start, col, end, end_col, statements in sorted(edits, reverse=True):
        first, last = lines[start - 1], lines[end - 1]
        indent = first[:col]
        if indent.strip():  # `x = 1; from wacommon import y`: leave it to the dotted pass
            continue
        replacement = ("\n" + indent).join(statements)
        lines[start - 1 : end] = [first[:col] + replacement + last[end_col:]]
    return "".join(lines)


def _rewrite_from_lines(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        names: list[tuple[str, str | None]] = []
        for part in match.group(3).split(","):
            words = part.split()
            if len(words) == 1:
                names.append((words[0], None))
            elif len(words) == 3 and words[1] == "as":
                names.append((words[0], words[2]))
            else:
                return match.group(0)
        statements = _rewritten_from(match.group(2), names)
        if statements is None:
            return match.group(0)
        return "\n".join(match.group(1) + s for s in statements)

    return _FROM_LINE.sub(one, text)


def rewrite_text(text: str, python: bool) -> str:
    """Every reference to a moved module (or a re-exported name) in one file's text."""
    text = _rewrite_python_from_imports(text) if python else _rewrite_from_lines(text)
    text = _DOTTED.sub(lambda m: _OLD_LEAVES[m.group(1)], text)
    text = _FULL_PATH.sub(lambda m: module_path(_OLD_LEAVES[m.group(1)]), text)
    text = _SHORT_PATH.sub(lambda m: module_path(_OLD_LEAVES[m.group(1)]).split("/", 2)[2], text)
    for pattern, names in _SYMBOL_REFS:
        text = pattern.sub(_symbol_ref(names), text)
    return text


def _symbol_ref(names: dict[str, str]) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{names[m.group(1)]}.{m.group(1)}"


def _walked(folder: str) -> bool:
    """Sources, docs and CI; not caches (`.hypothesis`, `.ruff_cache`...) nor build output."""
    if folder.startswith(".") and folder != ".github":
        return False
    return folder not in SKIP_DIRS and not folder.endswith(".egg-info")


def text_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if _walked(d))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.relative_to(root).as_posix() not in SKIP_FILES:
                yield path


class Relayout:
    def __init__(self, root: Path, dry_run: bool) -> None:
        self.root = root
        self.dry_run = dry_run
        self.git = (root / ".git").exists() and shutil.which("git") is not None
        self.changed: list[str] = []

    def say(self, line: str) -> None:
        print(("(dry run) " if self.dry_run else "") + line)

    def preflight(self) -> None:
        """Refuse before changing anything, so a refused run leaves the tree as it was."""
        for old, new in MOVES.items():
            src, dst = self.root / module_path(old), self.root / module_path(new)
            if src.exists() and dst.exists():
                raise SystemExit(f"both {src} and {dst} exist: merge them by hand, then re-run")
        for package, doc in PACKAGES.items():
            init = self.root / package_dir(package) / "__init__.py"
            if init.exists() and init.read_text() != f'"""{doc}"""\n':
                self._check_only_reexports(package, init)

    def move_modules(self) -> None:
        for old, new in MOVES.items():
            src, dst = self.root / module_path(old), self.root / module_path(new)
            if not src.exists():
                continue
            self.say(f"move {module_path(old)} -> {module_path(new)}")
            if self.dry_run:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if self.git and self._tracked(src):
                subprocess.run(["git", "mv", str(src), str(dst)], cwd=self.root, check=True)  # noqa: S603, S607
            else:
                src.rename(dst)

    def _tracked(self, path: Path) -> bool:
        found = subprocess.run(  # noqa: S603
            ["git", "ls-files", "--error-unmatch", str(path)],  # noqa: S607
            cwd=self.root,
            capture_output=True,
            check=False,
        )
        return found.returncode == 0

    def write_packages(self) -> None:
        for package, doc in PACKAGES.items():
            init = self.root / package_dir(package) / "__init__.py"
            content = f'"""{doc}"""\n'
            if init.exists() and init.read_text() == content:
                continue
            self.say(f"write {init.relative_to(self.root)}")
            if not self.dry_run:
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text(content)
                if self.git:
                    subprocess.run(["git", "add", str(init)], cwd=self.root, check=True)  # noqa: S603, S607

    def _check_only_reexports(self, package: str, init: Path) -> None:
        """An `__init__.py` about to be emptied may only re-export what `SYMBOLS` relocates."""
        known = SYMBOLS.get(package, {})
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                continue
            if isinstance(node, ast.ImportFrom) and all(
                a.name in known and known[a.name] == node.module for a in node.names
            ):
                continue
            raise SystemExit(
                f"{init.relative_to(self.root)} holds more than the re-exports this script "
                f"knows (line {node.lineno}): add them to SYMBOLS, then re-run"
            )

    def rewrite_references(self) -> None:
        for path in text_files(self.root):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if b"wacommon" not in data:
                continue
            try:
                text = data.decode()
            except UnicodeDecodeError:
                continue
            new = rewrite_text(text, python=path.suffix == ".py")
            if new != text:
                rel = path.relative_to(self.root).as_posix()
                self.changed.append(rel)
                self.say(f"rewrite {rel}")
                if not self.dry_run:
                    path.write_text(new)

    def tidy(self, ruff: str | None) -> None:
        py = [p for p in self.changed if p.endswith(".py")]
        if self.dry_run or not py or ruff is None:
            return
        sort_imports = [ruff, "check", "--select", "I", "--fix", "-q", *py]
        subprocess.run(sort_imports, cwd=self.root, check=False)  # noqa: S603
        subprocess.run([ruff, "format", "-q", *py], cwd=self.root, check=False)  # noqa: S603

    def leftovers(self) -> list[str]:
        """`path:line` of each import of a moved module the rewrite could not reach.

        The one form it leaves is a `from wacommon import X` sharing its line with other
        code (`if x: from wacommon import y`); the dotted and path forms are always rewritten.
        """
        found = []
        for path in text_files(self.root):
            if path.suffix != ".py" or b"wacommon" not in path.read_bytes():
                continue
            try:
                tree = ast.parse(path.read_text())
            except (SyntaxError, UnicodeDecodeError):
                continue
            rel = path.relative_to(self.root).as_posix()
            found += [
                f"{rel}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                and node.module
                and not node.level
                and any(_relocate(node.module, a.name) for a in node.names)
            ]
        return found

    def loose_modules(self) -> list[str]:
        folder = self.root / "libs/common/wacommon"
        return sorted(p.name for p in folder.glob("*.py") if p.name != "__init__.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--dry-run", action="store_true", help="say what would change")
    parser.add_argument("--no-ruff", action="store_true", help="skip sorting and formatting")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "libs/common/wacommon").is_dir():
        parser.error(f"{root} has no libs/common/wacommon")
    ruff = None
    if not args.no_ruff:
        local = root / ".venv/bin/ruff"
        ruff = str(local) if local.exists() else shutil.which("ruff")
    if ruff is None and not args.no_ruff:
        print("no ruff found: imports are left unsorted (run `ruff check --fix .`)")
    job = Relayout(root, args.dry_run)
    job.preflight()
    job.move_modules()
    job.write_packages()
    job.rewrite_references()
    job.tidy(ruff)
    print(f"{len(job.changed)} files rewritten")
    if args.dry_run:
        return 0
    status = 0
    if loose := job.loose_modules():
        print(f"still loose in libs/common/wacommon/ (add them to MOVES): {', '.join(loose)}")
        status = 1
    if left := job.leftovers():
        print(f"imports of moved modules to fix by hand: {', '.join(left)}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
