"""deploy/grafana/wa-assistant.json only charts metrics the code exports, and charts all of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, generate_latest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "wa-assistant.json"
DECLARATION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:][a-z0-9_:]*)\"")
SERIES = re.compile(r"\b((?:wa|process)_[a-z0-9_]+)\b")


def _declared() -> dict[str, str]:
    """Metric name -> type, from every prometheus_client declaration in libs/ and services/."""
    found: dict[str, str] = {}
    for folder in ("libs", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if "prometheus_client" not in text:
                continue
            for kind, name in DECLARATION.findall(text):
                found[name] = kind
    return found


def _series(declared: dict[str, str]) -> set[str]:
    """The sample names Prometheus stores for those metrics, plus the process collector's."""
    out: set[str] = set()
    for name, kind in declared.items():
        if kind == "Counter":
            base = name.removesuffix("_total")
            out |= {f"{base}_total", f"{base}_created"}
        elif kind in ("Histogram", "Summary"):
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
        else:
            out.add(name)
    # prometheus_client's default collectors, served by every service's /metrics
    out |= set(re.findall(r"^(process_[a-z_]+)", generate_latest(REGISTRY).decode(), re.M))
    return out


def _panels(node: Any) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in node.get("panels", []):
        panels.append(panel)
        panels += _panels(panel)
    return panels


def test_every_panel_queries_metrics_the_services_export() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    declared = _declared()
    assert len(declared) >= 10, declared  # the scan itself works
    known = _series(declared)
    assert "process_resident_memory_bytes" in known
    used: set[str] = set()
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            names = set(SERIES.findall(target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= known, (panel["title"], names - known)
            used |= names
    # and nothing the code exports is missing from the dashboard
    for name, kind in declared.items():
        assert any(u.startswith(name.removesuffix("_total")) for u in used), (name, kind)


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            for var in re.findall(r"\$(\w+)", target["expr"]):
                assert var in variables, (panel["title"], var)
