"""Deployment files, checked statically (no Docker engine or cluster here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from wacommon.settings import SERVICE_PORTS, Settings
from wacommon.supervisor import SERVICES, module_of

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS_VARS = {name.upper() for name in Settings.model_fields}


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


def test_kubernetes_manifests_have_a_deployment_and_service_per_service() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "wa-assistant.yaml").read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("ConfigMap", "wa-config") in kinds and ("Secret", "wa-secrets") in kinds
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    known = SETTINGS_VARS | {"OPENAI_API_KEY", "GEMINI_API_KEY"}
    assert set(config) <= known and set(secret) <= known
    for name in SERVICES:
        port = SERVICE_PORTS[name]
        assert ("Deployment", name) in kinds and ("Service", name) in kinds
        dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", module_of(name)]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"SERVICE_NAME": name, "HTTP_PORT": str(port)}
        svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)
        assert svc["spec"]["ports"][0]["targetPort"] == port


def test_image_installs_the_locked_dependencies() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "requirements.lock" in text and "COPY libs" in text and "COPY services" in text
