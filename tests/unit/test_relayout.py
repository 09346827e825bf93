"""scripts/relayout.py on a small tree of its own: moves, every reference form, a second run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relayout", ROOT / "scripts/relayout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["relayout"] = module
    spec.loader.exec_module(module)
    return module


relayout = _load()

SERVICE = '''\
"""A service module using every form of reference."""

import wacommon.settings
from wacommon import bot_gate, conversation_state, tenants
from wacommon import event_types as ev
from wacommon import (
    passwords,
    human_reply as hr,
)
from wacommon.tenants import PgTenantDirectory, sections
from wacommon.runtime import Runtime
from wacommon.providers.meta import parse_meta_webhook


def f() -> None:
    from wacommon.metrics_live import days

    if True:
        from wacommon import followups
    patch_target = "wacommon.runtime.connect"
    cmd = ["python", "-m", "wacommon.supervisor", "--replicas", ""]
    path = "libs/common/wacommon/events.py"
    short = "wacommon/conversation_state.py"
    untouched = "wacommon.tenants.sections wacommon.broker.topology wacommon.settingsx"
    doc = "the `wacommon.tenants.TenantDirectory` port"
'''

EXPECTED_SERVICE = '''\
"""A service module using every form of reference."""

import wacommon.infra.settings
from wacommon.conversation import bot_gate, state as conversation_state
from wacommon import tenants
from wacommon.repositories import event_types as ev
from wacommon.console import passwords
from wacommon.conversation import human_reply as hr
from wacommon.tenants.directory import PgTenantDirectory
from wacommon.tenants import sections
from wacommon.service.runtime import Runtime
from wacommon.providers.meta import parse_meta_webhook


def f() -> None:
    from wacommon.metrics.live import days

    if True:
        from wacommon.conversation import followups
    patch_target = "wacommon.service.runtime.connect"
    cmd = ["python", "-m", "walocal.supervisor", "--replicas", ""]
    path = "libs/common/wacommon/repositories/events.py"
    short = "wacommon/conversation/state.py"
    untouched = "wacommon.tenants.sections wacommon.broker.topology wacommon.settingsx"
    doc = "the `wacommon.tenants.directory.TenantDirectory` port"
'''

TENANTS_INIT = '''\
"""Tenant configuration."""

from wacommon.tenants.config import TenantConfig, parse_tenant
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory

__all__ = ["PgTenantDirectory", "TenantConfig", "TenantDirectory", "parse_tenant"]
'''


def _tree(root: Path) -> None:
    """A checkout in miniature: the old flat modules, a service, a Makefile, pyproject, docs."""
    lib = root / "libs/common/wacommon"
    for old in relayout.MOVES:
        path = root / relayout.module_path(old)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""{old.replace(".", "/")}"""\n')
    (lib / "__init__.py").write_text("")
    (lib / "tenants").mkdir()
    (lib / "tenants/__init__.py").write_text(TENANTS_INIT)
    (lib / "tenants/sections.py").write_text("from wacommon.flags import truthy\n")
    (root / "libs/local/walocal").mkdir(parents=True)
    (root / "libs/local/walocal/__init__.py").write_text("")
    service = root / "services/x/x"
    service.mkdir(parents=True)
    (service / "main.py").write_text(SERVICE)
    (root / "Makefile").write_text(
        "run:\n\t$(PY) -m wacommon.supervisor --replicas x\nreplay:\n\t$(PY) -m wacommon.replay\n"
    )
    (root / "pyproject.toml").write_text(
        '[project.scripts]\nwa-replay = "wacommon.replay:main"\nwa-run = "wacommon.supervisor:main"\n'
    )
    for folder in (".github/workflows", ".hypothesis/constants"):
        (root / folder).mkdir(parents=True)
        (root / folder / "x").write_text("run: python -m wacommon.replay\n")
    (root / "docs").mkdir()
    (root / "docs/a.md").write_text(
        "See `wacommon.netguard` in `libs/common/wacommon/netguard.py`.\n"
        "```python\nfrom wacommon import conversation_state as cs\n```\n"
    )


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_it_moves_every_module_and_rewrites_every_reference_form(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert relayout.main(["--root", str(tmp_path), "--no-ruff"]) == 0

    lib = tmp_path / "libs/common/wacommon"
    assert sorted(p.name for p in lib.glob("*.py")) == ["__init__.py"]
    for old, new in relayout.MOVES.items():
        moved = tmp_path / relayout.module_path(new)
        assert moved.read_text() == f'"""{old.replace(".", "/")}"""\n', new
    assert (lib / "infra/__init__.py").read_text().startswith('"""Process plumbing')
    assert "import" not in (lib / "tenants/__init__.py").read_text()
    assert (
        lib / "tenants/sections.py"
    ).read_text() == "from wacommon.tenants.flags import truthy\n"
    assert (tmp_path / "services/x/x/main.py").read_text() == EXPECTED_SERVICE
    assert (tmp_path / "Makefile").read_text() == (
        "run:\n\t$(PY) -m walocal.supervisor --replicas x\n"
        "replay:\n\t$(PY) -m wacommon.ops.replay\n"
    )
    assert (tmp_path / "pyproject.toml").read_text() == (
        '[project.scripts]\nwa-replay = "wacommon.ops.replay:main"\n'
        'wa-run = "walocal.supervisor:main"\n'
    )
    # CI is rewritten, a cache is left alone
    assert (tmp_path / ".github/workflows/x").read_text() == "run: python -m wacommon.ops.replay\n"
    assert (tmp_path / ".hypothesis/constants/x").read_text() == "run: python -m wacommon.replay\n"
    assert (tmp_path / "docs/a.md").read_text() == (
        "See `wacommon.infra.netguard` in `libs/common/wacommon/infra/netguard.py`.\n"
        "```python\nfrom wacommon.conversation import state as cs\n```\n"
    )


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    _tree(tmp_path)
    relayout.main(["--root", str(tmp_path), "--no-ruff"])
    first = _snapshot(tmp_path)
    assert relayout.main(["--root", str(tmp_path), "--no-ruff"]) == 0
    assert _snapshot(tmp_path) == first


def test_the_rewritten_python_still_parses_and_no_new_name_matches_an_old_one() -> None:
    # what makes the second run a no-op: the rewrite of a rewritten text is itself
    rewritten = relayout.rewrite_text(SERVICE, python=True)
    compile(rewritten, "main.py", "exec")
    assert relayout.rewrite_text(rewritten, python=True) == rewritten
    for new in relayout.MOVES.values():
        assert relayout.rewrite_text(new, python=False) == new


def test_a_module_added_after_the_map_is_named_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(tmp_path)
    (tmp_path / "libs/common/wacommon/newcomer.py").write_text("")
    assert relayout.main(["--root", str(tmp_path), "--no-ruff"]) == 1
    assert "newcomer.py" in capsys.readouterr().out


def test_a_package_init_with_unknown_reexports_is_refused_before_any_change(
    tmp_path: Path,
) -> None:
    _tree(tmp_path)
    init = tmp_path / "libs/common/wacommon/tenants/__init__.py"
    init.write_text(TENANTS_INIT + "from wacommon.tenants.sections import HoursSection\n")
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit, match="SYMBOLS"):
        relayout.main(["--root", str(tmp_path), "--no-ruff"])
    assert _snapshot(tmp_path) == before


def test_an_import_it_cannot_reach_is_named_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(tmp_path)
    (tmp_path / "services/x/x/odd.py").write_text("if True: from wacommon import passwords\n")
    assert relayout.main(["--root", str(tmp_path), "--no-ruff"]) == 1
    assert "services/x/x/odd.py:1" in capsys.readouterr().out


def test_in_a_git_work_tree_the_moves_are_git_renames(tmp_path: Path) -> None:
    _tree(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "before"], check=True)
    relayout.main(["--root", str(tmp_path), "--no-ruff"])
    status = subprocess.run(
        [*git, "status", "--porcelain"], check=True, capture_output=True, text=True
    ).stdout
    assert "R  libs/common/wacommon/settings.py -> libs/common/wacommon/infra/settings.py" in status
    assert "R  libs/common/wacommon/supervisor.py -> libs/local/walocal/supervisor.py" in status
