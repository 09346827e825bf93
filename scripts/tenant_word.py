"""Rename the tenant's Python names from `client_id` to `tenant_id` (issue 17, item 7).

Usage: python scripts/tenant_word.py <repo-root> [--check]

Rewrites NAME tokens only (and the identifiers inside f-string replacement fields), in every
.py under libs/, services/, tests/, bench/, scripts/ (no .venv). String contents (SQL column
names, JSON keys, route templates, Meta OAuth's `client_id` parameter) and comments are never
touched. Idempotent: a second run changes nothing. The changed files are then re-sorted and
re-wrapped with the repository's ruff (.venv/bin/ruff), since the longer names move imports
and lines.

Before writing anything it checks, and refuses (exit 2) while any of these is found:
- a scope (module, class, function, one call's keywords) where two different names would
  end up as one (e.g. a function holding both `client_id` and `tenant_id`);
- a route handler (or a Depends function) whose `client_id` parameter reads the path's
  `{client_id}` without `Path(alias="client_id")` (`TenantPath`): renamed, it would become a
  query parameter;
- a `client_id=` keyword passed to a callee not defined in the repository (a third party's
  parameter name), unless reviewed in ALLOWED_FOREIGN_KEYWORDS;
- a logical line that also names `client_secret` (the OAuth `client_id` of an app).
--check reports what would change and the blockers, writing nothing.
"""

from __future__ import annotations

import ast
import io
import pathlib
import re
import subprocess
import sys
import tokenize
from collections import defaultdict
from collections.abc import Iterator

DIRS = ("libs", "services", "tests", "bench", "scripts")

# Compound names where "client" is unambiguously the tenant. Names where client is an HTTP,
# SDK or Redis client (client, client_for, redis_client, owner_client, ...) are absent on
# purpose, and so are the names of the `clients` table's repository (clients_repo,
# create_client, get_client, update_client, delete_client, list_clients, ClientOut, ...):
# that layer keeps the table's word, like the SQL, and the admin endpoints' function names
# are the OpenAPI operationIds of /admin/clients.
MAPPING = {
    "client_or_404": "tenant_or_404",
    "existing_client": "existing_tenant",
    "new_client": "new_tenant",
}

# `client_id=` keywords to callees this repository does not define, reviewed by hand:
# structlog methods (the keyword is the log key, whose rename is the point) and dict.update
# whose keys then build a pydantic model that accepts both names.
ALLOWED_FOREIGN_KEYWORDS = {
    "log.debug",
    "log.info",
    "log.warning",
    "log.error",
    "log.exception",
    "fields.update",
}

_CASE = {"client": "tenant", "CLIENT": "TENANT", "Client": "Tenant"}


def rename(name: str) -> str:
    """The new spelling of an identifier (itself when it does not change)."""
    if name in MAPPING:
        return MAPPING[name]
    parts = name.split("_")
    for i, part in enumerate(parts[:-1]):
        if part in _CASE and parts[i + 1].lower() in ("id", "ids"):
            parts[i] = _CASE[part]
    return "_".join(parts)


def py_files(root: pathlib.Path) -> Iterator[pathlib.Path]:
    for top in DIRS:
        for path in sorted((root / top).rglob("*.py")):
            if ".venv" not in path.relative_to(root).parts:
                yield path


# ---------------------------------------------------------------- rewriting


def _offsets(src: str) -> list[int]:
    starts = [0]
    for line in src.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


_PREFIX = re.compile(r"^([A-Za-z]*)('''|\"\"\"|'|\")", re.S)


def rename_fstring(text: str, where: str, notes: list[str]) -> str:
    """`text` (an f-string token) with the identifiers of its replacement fields renamed."""
    m = _PREFIX.match(text)
    if m is None or "f" not in m.group(1).lower():
        return text
    head = m.end()
    tail = len(text) - len(m.group(2))
    body = text[head:tail]
    return text[:head] + _fields(body, where, notes) + text[tail:]


def _fields(body: str, where: str, notes: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        two = body[i : i + 2]
        if two in ("{{", "}}"):
            out.append(two)
            i += 2
            continue
        if body[i] != "{":
            out.append(body[i])
            i += 1
            continue
        end = _field_end(body, i + 1)
        out.append("{" + _field(body[i + 1 : end], where, notes) + "}")
        i = end + 1
    return "".join(out)


def _field_end(body: str, start: int) -> int:
    """Index of the `}` closing the replacement field opened just before `start`."""
    depth, quote, i = 0, "", start
    while i < len(body):
        ch = body[i]
        if quote:
            if body.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch in "'\"":
            quote = body[i : i + 3] if body[i : i + 3] in ("'''", '"""') else ch
            i += len(quote)
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ValueError("unclosed replacement field")


def _field(field: str, where: str, notes: list[str]) -> str:
    """One replacement field's text: expression, then `!conv` and `:spec` left as they are
    except for the spec's own nested fields."""
    depth, quote, i = 0, "", 0
    cut = len(field)
    while i < len(field):
        ch = field[i]
        if quote:
            if field.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch in "'\"":
            quote = field[i : i + 3] if field[i : i + 3] in ("'''", '"""') else ch
            i += len(quote)
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "!" and field[i + 1 : i + 2] != "=":
            cut = i
            break
        elif depth == 0 and ch == ":":
            cut = i
            break
        i += 1
    expr, rest = field[:cut], field[cut:]
    new_expr = rename_code(expr, where, notes)
    if rest.startswith("!"):
        colon = rest.find(":")
        if colon >= 0:
            rest = rest[:colon] + ":" + _fields(rest[colon + 1 :], where, notes)
    elif rest.startswith(":"):
        rest = ":" + _fields(rest[1:], where, notes)
    return new_expr + rest


def rename_code(src: str, where: str, notes: list[str]) -> str:
    """`src` with its NAME tokens (and f-string fields) renamed; strings and comments kept."""
    starts = _offsets(src)
    edits: list[tuple[int, int, str]] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        notes.append(f"{where}: cannot tokenize {src[:60]!r}: {exc}")
        return src
    line_tokens: list[tokenize.TokenInfo] = []
    for tok in tokens:
        line_tokens.append(tok)
        if tok.type not in (tokenize.NEWLINE, tokenize.ENDMARKER):
            continue
        oauth = any(t.type == tokenize.NAME and t.string == "client_secret" for t in line_tokens)
        oauth = oauth or any(
            t.type == tokenize.STRING and "client_secret" in t.string for t in line_tokens
        )
        for t in line_tokens:
            new = t.string
            if t.type == tokenize.NAME:
                new = rename(t.string)
                if new != t.string and oauth:
                    notes.append(f"{where}:{t.start[0]}: OAuth line, `{t.string}` kept")
                    new = t.string
            elif t.type == tokenize.STRING:
                try:
                    new = rename_fstring(t.string, f"{where}:{t.start[0]}", notes)
                except ValueError as exc:
                    notes.append(f"{where}:{t.start[0]}: f-string left as is: {exc}")
            if new != t.string:
                a = starts[t.start[0] - 1] + t.start[1]
                b = starts[t.end[0] - 1] + t.end[1]
                edits.append((a, b, new))
        line_tokens = []
    for a, b, new in reversed(edits):
        src = src[:a] + new + src[b:]
    return src


# ---------------------------------------------------------------- checks


def _scope_names(tree: ast.AST) -> Iterator[tuple[str, int, set[str]]]:
    """(scope name, line, identifiers that scope holds directly) for every scope."""
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

    def walk(node: ast.AST, names: set[str], cls: set[str] | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, scopes):
                inner: set[str] = set()
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(child.name)
                if isinstance(child, ast.ClassDef):
                    walk(child, inner, inner)
                else:
                    walk(child, inner, cls)
                label = getattr(child, "name", "<lambda>")
                yield_list.append((label, getattr(child, "lineno", 0), inner))
                continue
            if isinstance(child, ast.Name):
                names.add(child.id)
            elif isinstance(child, ast.arg):
                names.add(child.arg)
            elif isinstance(child, ast.alias):
                names.add((child.asname or child.name).split(".")[0])
            elif (
                isinstance(child, ast.Attribute)
                and cls is not None
                and isinstance(child.value, ast.Name)
                and child.value.id == "self"
                and isinstance(child.ctx, ast.Store)
            ):
                cls.add(child.attr)
            elif isinstance(child, ast.Call):
                kws = {k.arg for k in child.keywords if k.arg}
                yield_list.append(("<call>", child.lineno, kws))
            walk(child, names, cls)

    yield_list: list[tuple[str, int, set[str]]] = []
    top: set[str] = set()
    walk(tree, top, None)
    yield ("<module>", 1, top)
    yield from yield_list


def collisions(rel: str, tree: ast.AST) -> list[str]:
    found = []
    for label, line, names in _scope_names(tree):
        targets: dict[str, set[str]] = defaultdict(set)
        for name in names:
            targets[rename(name)].add(name)
        for new, olds in targets.items():
            if len(olds) > 1:
                found.append(f"{rel}:{line}: scope {label} holds {sorted(olds)} -> {new}")
    return found


def _route_params(rel: str, tree: ast.AST, src: str) -> list[str]:
    if "{client_id}" not in src:
        return []
    depends = {
        ast.unparse(n.args[0])
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func).endswith("Depends") and n.args
    }
    found = []
    for n in ast.walk(tree):
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if not n.decorator_list and n.name not in depends:
            continue
        for a in n.args.args + n.args.kwonlyargs:
            if "client_id" not in a.arg:
                continue
            note = ast.unparse(a.annotation) if a.annotation else ""
            if "TenantPath" not in note and "alias=" not in note:
                found.append(
                    f"{rel}:{n.lineno}: {n.name}({a.arg}: {note}) reads {{client_id}}: "
                    "annotate it TenantPath (Path(alias='client_id')) first"
                )
    return found


def _defined(trees: dict[str, ast.AST]) -> set[str]:
    return {
        n.name
        for tree in trees.values()
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _foreign_keywords(rel: str, tree: ast.AST, defined: set[str]) -> list[str]:
    found = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        if not any(k.arg and rename(k.arg) != k.arg for k in n.keywords):
            continue
        callee = ast.unparse(n.func)
        last = callee.rsplit(".", 1)[-1]
        if last in defined or callee in ALLOWED_FOREIGN_KEYWORDS:
            continue
        found.append(f"{rel}:{n.lineno}: keyword to {callee}(), not defined here: review")
    return found


# ---------------------------------------------------------------- main


def count(root: pathlib.Path) -> dict[str, int]:
    totals = {"client_id": 0, "tenant_id": 0}
    for path in py_files(root):
        with path.open("rb") as f:
            for tok in tokenize.tokenize(f.readline):
                if tok.type == tokenize.NAME and tok.string in totals:
                    totals[tok.string] += 1
    return totals


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        return 1
    check_only = "--check" in argv
    root = pathlib.Path(args[0]).resolve()
    sources = {str(p.relative_to(root)): p.read_text() for p in py_files(root)}
    trees = {rel: ast.parse(src, rel) for rel, src in sources.items()}
    defined = _defined(trees)
    blockers: list[str] = []
    for rel, tree in trees.items():
        blockers += collisions(rel, tree)
        blockers += _route_params(rel, tree, sources[rel])
        blockers += _foreign_keywords(rel, tree, defined)
    before = count(root)
    notes: list[str] = []
    changed: dict[str, str] = {}
    for rel, src in sources.items():
        new = rename_code(src, rel, notes)
        if new != src:
            ast.parse(new, rel)  # a rewrite that does not parse is a bug of this script
            changed[rel] = new
    for line in notes:
        print("note:", line)
    for line in blockers:
        print("BLOCKER:", line)
    print(f"{len(changed)} files would change; tokens before: {before}")
    if blockers:
        print("nothing written: fix the blockers by hand first")
        return 2
    if check_only:
        return 0
    for rel, new in changed.items():
        (root / rel).write_text(new)
    _ruff(root, sorted(changed))
    print(f"written; tokens after: {count(root)}")
    return 0


def _ruff(root: pathlib.Path, files: list[str]) -> None:
    """Re-sort the imports and re-wrap the lines the longer names moved, as `make format`."""
    ruff = root / ".venv" / "bin" / "ruff"
    if not files or not ruff.exists():
        print("ruff not found: run `make format` yourself")
        return
    subprocess.run([str(ruff), "check", "-q", "--fix", "--select", "I", *files], cwd=root)
    subprocess.run([str(ruff), "format", "-q", *files], cwd=root, check=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
