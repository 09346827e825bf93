"""Module and function sizes under the given paths: the figures behind STYLE.md's "split a
module at a seam when it passes about 300 lines" and issue 17's "functions over 60 lines".

Counts every .py file (physical lines, as `wc -l`), prints the module count, the median, how
many pass 300 lines and how many pass 250 but not 300, then every function (nested ones
included, named by their dotted path) longer than `--max-function` lines, longest first.

    .venv/bin/python -m bench.code_sizes libs services
"""

from __future__ import annotations

import argparse
import ast
import statistics
from pathlib import Path


def modules(roots: list[str]) -> list[Path]:
    """Every .py file under the roots, sorted so the output is stable."""
    found: set[Path] = set()
    for root in roots:
        path = Path(root)
        found.update([path] if path.is_file() else path.rglob("*.py"))
    return sorted(p for p in found if p.suffix == ".py")


def long_functions(path: Path, source: str, limit: int) -> list[tuple[int, str]]:
    """(length, "path:line dotted.name") of each function in the module longer than limit."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}."
                if not isinstance(child, ast.ClassDef):
                    length = (child.end_lineno or child.lineno) - child.lineno + 1
                    if length > limit:
                        found.append((length, f"{path}:{child.lineno} {name[:-1]}"))
            visit(child, name)

    visit(ast.parse(source, filename=str(path)), "")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["libs", "services"])
    parser.add_argument("--max-function", type=int, default=60)
    parser.add_argument("--top", type=int, default=10, help="largest modules to list")
    args = parser.parse_args()
    sizes: list[tuple[int, Path]] = []
    functions: list[tuple[int, str]] = []
    for path in modules(args.paths):
        source = path.read_text(encoding="utf-8")
        sizes.append((source.count("\n") + (0 if source.endswith("\n") or not source else 1), path))
        functions.extend(long_functions(path, source, args.max_function))
    lines = [n for n, _ in sizes]
    print(f"modules: {len(lines)}")
    print(f"median lines: {statistics.median(lines) if lines else 0:g}")
    print(f"over 300 lines: {sum(n > 300 for n in lines)}")
    print(f"250-300 lines (over 250, at most 300): {sum(250 < n <= 300 for n in lines)}")
    print(f"largest {args.top} modules:")
    for n, path in sorted(sizes, key=lambda s: (-s[0], str(s[1])))[: args.top]:
        print(f"  {n:5d} {path}")
    print(f"functions over {args.max_function} lines: {len(functions)}")
    for n, where in sorted(functions, key=lambda f: (-f[0], f[1])):
        print(f"  {n:5d} {where}")


if __name__ == "__main__":
    main()
