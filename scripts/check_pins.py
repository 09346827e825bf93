"""Offline half of `make audit`: every direct dependency pinned with == and locked at that version.

Reads pyproject.toml (runtime and dev dependencies) and requirements.lock; exits 1 and names
each dependency that is unpinned, missing from the lock, or locked at another version.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def normalise(name: str) -> str:
    """PEP 503 name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        direct.extend(extra)
    locked: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            locked[normalise(name)] = version.strip()
    problems: list[str] = []
    for requirement in direct:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            problems.append(f"{requirement}: not a requirement this check understands")
            continue
        name, spec = normalise(match.group(1)), match.group(3)
        if not spec.startswith("==") or any(c in spec[2:] for c in "<>=!~*,;"):
            problems.append(f"{requirement}: not pinned with ==")
            continue
        version = spec[2:].strip()
        if name not in locked:
            problems.append(f"{requirement}: missing from requirements.lock")
        elif locked[name] != version:
            problems.append(f"{requirement}: requirements.lock has {locked[name]}")
    for problem in problems:
        print(f"audit: {problem}", file=sys.stderr)
    if not problems:
        print(f"audit: {len(direct)} direct dependencies pinned and locked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
