"""Deployment files, checked statically (no Docker engine or cluster here).

The Kubernetes manifests have their own tests: tests/deploy/test_k8s_manifests.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from console.settings import ConsoleSettings
from wacommon.infra.settings import SERVICE_PORTS, Settings
from walocal.supervisor import SERVICES, module_of

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS_VARS = {name.upper() for cls in (Settings, ConsoleSettings) for name in cls.model_fields}


def test_the_console_is_deployed_on_its_port() -> None:
    assert (
        "console" in SERVICES
        and SERVICE_PORTS["console"] == ConsoleSettings(_env_file=None).port == 8006
    )  # type: ignore[call-arg]


def test_compose_defines_every_service_with_its_port_and_a_healthcheck() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    for infra in ("postgres", "rabbitmq", "redis"):
        assert "healthcheck" in services[infra]
        # never on every interface: a database or broker with default passwords on the internet
        assert all(p.startswith("127.0.0.1:") for p in services[infra].get("ports", [])), infra
    for name in SERVICES:
        svc = services[name]
        port = SERVICE_PORTS[name]
        assert svc["command"] == ["python", "-m", module_of(name)]
        assert svc["environment"]["HTTP_PORT"] == str(port)
        (mapping,) = svc["ports"]
        assert mapping.endswith(f"{port}:{port}")
        # only the internet-facing webhook/admin ports are published on every interface
        public = name in ("meta-gateway", "lancepilot-ingest")
        assert mapping.startswith("127.0.0.1:") != public, mapping
        assert svc["environment"]["INTERNAL_HTTP_PORT"] not in " ".join(svc["ports"])
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        assert set(svc["depends_on"]) == {"postgres", "rabbitmq", "redis"}
        assert all(cond["condition"] == "service_healthy" for cond in svc["depends_on"].values())
        assert set(svc["environment"]) <= SETTINGS_VARS


def test_image_installs_the_locked_dependencies() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "requirements.lock" in text and "COPY libs" in text and "COPY services" in text


def test_image_runs_as_the_user_the_kubernetes_pods_ask_for() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for name in SERVICES:
        docs = yaml.safe_load_all((DEPLOY / "k8s" / "base" / f"{name}.yaml").read_text())
        workload = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))
        context = workload["spec"]["template"]["spec"]["securityContext"]
        uid, gid = context["runAsUser"], context["runAsGroup"]
        assert f"USER {uid}:{gid}" in text, name
        assert f"--uid {uid}" in text and f"--gid {gid}" in text, name
