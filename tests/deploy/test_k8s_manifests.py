"""The Kubernetes deployment, checked offline: rendered, validated against the Kubernetes and the
operators' schemas, and held to what docs/operations.md promises an operator.

Rendering uses tests/deploy/kustomize_lite.py (pure Python, always runs); where kubectl is
installed its `kubectl kustomize` output must be the same objects. Built-in kinds are validated
with the schemas of the `kubernetes-validate` package (strict: unknown fields fail), the
operators' kinds with the CRD schemas vendored in deploy/k8s/schemas (closed the same way).
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import kubernetes_validate
import pytest
import yaml

from console.settings import ConsoleSettings
from followup.settings import FollowupSettings
from metrics.settings import MetricsSettings
from tests.deploy.kustomize_lite import render
from tests.unit.test_configuration_docs import NAMES as SETTING_NAMES
from waai.llm.config import AISettings
from wacommon.broker.consumer import Consumer
from wacommon.broker.topology import BURST_QUEUE, INGEST_QUEUE, SEND_QUEUE
from wacommon.infra.settings import SERVICE_PORTS, Settings
from walocal.supervisor import SERVICES, module_of

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.32"
# every variable a service reads (the list tests/unit/test_configuration_docs.py documents)
SETTINGS_VARS = set(SETTING_NAMES)
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()

Obj = dict[str, Any]


@cache
def rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(render(K8S / "overlays" / overlay))


def objects(overlay: str, kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def workloads(overlay: str) -> dict[str, Obj]:
    """The services' pods: Deployments, and StatefulSets for the shard consumers."""
    sets = {n: o for n, o in objects(overlay, "StatefulSet").items() if n in SERVICES}
    return {**objects(overlay, "Deployment"), **sets}


def key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_python_renderer_matches_kubectl_kustomize(overlay: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the other tests use the Python renderer alone")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = {key(d): d for d in yaml.safe_load_all(out) if d}
    ours = {key(d): d for d in rendered(overlay)}
    assert sorted(theirs) == sorted(ours)
    for k, obj in ours.items():
        assert obj == theirs[k], k


def _closed(schema: Any) -> Any:
    """The schema with unknown fields refused, as the API server's strict field validation."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], Obj]:
    out: dict[tuple[str, str], Obj] = {}
    for path in sorted((K8S / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        gvk = schema["x-kubernetes-gvk"]
        assert schema["x-source"]["license"] and schema["x-source"]["commit"]
        out[(f"{gvk['group']}/{gvk['version']}", gvk["kind"])] = _closed(schema)
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    schemas = crd_schemas()
    for obj in rendered(overlay):
        crd = schemas.get((obj["apiVersion"], obj["kind"]))
        if crd is not None:
            body = copy.deepcopy(obj)
            meta = body.pop("metadata")
            assert set(meta) <= {"name", "namespace", "labels", "annotations"}, key(obj)
            jsonschema.Draft7Validator(crd).validate({**body, "metadata": {}})
            continue
        # raises SchemaNotFoundError for a kind that is neither built in nor vendored
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_mistakes() -> None:
    scaled = copy.deepcopy(objects("production", "ScaledObject")["rag-worker"])
    scaled["spec"]["minReplicas"] = 2  # the HPA's spelling, not KEDA's
    crd = crd_schemas()[("keda.sh/v1alpha1", "ScaledObject")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd).validate({**scaled, "metadata": {}})
    deployment = copy.deepcopy(workloads("production")["sender"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# preStop sleep + the consumers' drain + serve()'s wait for background loops (wacommon/service/http.py)
PRE_STOP_S = 5
BACKGROUND_STOP_S = 10
DRAIN_S = inspect.signature(Consumer.__init__).parameters["drain_timeout"].default


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_deployment_per_service_with_probes_resources_and_drain_time(overlay: str) -> None:
    deployments = workloads(overlay)
    services = objects(overlay, "Service")
    budgets = objects(overlay, "PodDisruptionBudget")
    for name in SERVICES:
        port = SERVICE_PORTS[name]
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", module_of(name)]
        assert container["image"].endswith(":1.0.0")
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        env = {e["name"]: e for e in container["env"]}
        assert env["SERVICE_NAME"]["value"] == name and env["HTTP_PORT"]["value"] == str(port)
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        assert pod["terminationGracePeriodSeconds"] > PRE_STOP_S + DRAIN_S + BACKGROUND_STOP_S
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRE_STOP_S)]
        spread = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert spread == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        # new pods wait for the migrations Job instead of migrating themselves
        (init,) = pod["initContainers"]
        assert init["command"][:4] == ["python", "-m", "wacommon.migrations", "--wait"]
        assert init["image"] == container["image"]
        selector = deployments[name]["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        assert services[name]["spec"]["selector"] == selector
        ports = {p["name"]: p for p in services[name]["spec"]["ports"]}
        assert ports["http"]["port"] == port and ports["metrics"]["port"] == 9000


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_existing_secrets_and_the_job_migrates(overlay: str) -> None:
    assert objects(overlay, "Secret") == {}, "secrets are never part of the manifests"
    config = objects(overlay, "ConfigMap")["wa-config"]["data"]
    assert config["MIGRATE_ON_START"] == "false" and config["WA_ENV"] == "production"
    secret_names = {
        "ADMIN_TOKEN",
        "ENCRYPTION_KEY",
        "ENCRYPTION_OLD_KEYS",
        "META_APP_SECRET",
        "META_VERIFY_TOKEN",
        "META_REGISTER_PIN",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "DATABASE_URL",
        "AMQP_URL",
        "REDIS_URL",
    }
    assert not secret_names & set(config)
    for deployment in workloads(overlay).values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                assert env["name"] not in secret_names or "secretKeyRef" in env["valueFrom"]
    (job,) = objects(overlay, "Job").values()
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "-m", "wacommon.migrations"]
    # every Secret the deployment reads is documented for the operator who creates it
    referenced = {
        ref["name"]
        for obj in rendered(overlay)
        for ref in _find_all(obj, "secretKeyRef") + _find_all(obj, "secretRef")
    } | {ref["name"] for obj in rendered(overlay) for ref in _find_all(obj, "secretTargetRef")}
    for name in referenced:
        assert f"`{name}`" in OPERATIONS, name


def _find_all(node: Any, field: str) -> list[Obj]:
    found: list[Obj] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == field:
                found += v if isinstance(v, list) else [v]
            else:
                found += _find_all(v, field)
    elif isinstance(node, list):
        for v in node:
            found += _find_all(v, field)
    return found


def test_only_the_gateway_and_ingest_are_open_to_everyone_and_the_console_to_the_ingress() -> None:
    policies = objects("production", "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    open_to_all: set[str] = set()
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            if not rule.get("from"):
                selector = policy["spec"]["podSelector"]
                (expression,) = selector["matchExpressions"]
                open_to_all |= set(expression["values"])
    assert open_to_all == {"meta-gateway", "lancepilot-ingest"}
    console = policies["console-from-ingress-controller"]["spec"]
    (rule,) = console["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"namespaceSelector"}
    # so the console may trust the controller's X-Forwarded-For (per-address sign-in limits)
    (container,) = objects("production", "Deployment")["console"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert {"name": "FORWARDED_ALLOW_IPS", "value": "*"} in container["env"]
    (ingress,) = objects("production", "Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
        for path in r["http"]["paths"]
    }
    assert backends == {"meta-gateway", "lancepilot-ingest", "console"}
    hosts = {r["host"] for r in ingress["spec"]["rules"]}
    assert hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    public_base = objects("production", "ConfigMap")["wa-config"]["data"]["PUBLIC_BASE_URL"]
    ingest_host = next(
        r["host"]
        for r in ingress["spec"]["rules"]
        if r["http"]["paths"][0]["backend"]["service"]["name"] == "lancepilot-ingest"
    )
    assert public_base == f"https://{ingest_host}"


QUEUES = {"rag-worker": BURST_QUEUE, "sender": SEND_QUEUE, "lancepilot-ingest": INGEST_QUEUE}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_their_queue_and_its_shards_and_front_doors_on_cpu(overlay: str) -> None:
    scaled = objects(overlay, "ScaledObject")
    hpas = objects(overlay, "HorizontalPodAutoscaler")
    assert set(scaled) == set(QUEUES)
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {
        "meta-gateway",
        "console",
    }
    namespace = next(iter(scaled.values()))["metadata"]["namespace"]
    for name, queue in QUEUES.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"] <= 10
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 120
        (trigger,) = [t for t in spec["triggers"] if t["type"] == "rabbitmq"]
        meta = trigger["metadata"]
        assert meta["protocol"] == "http" and meta["useRegex"] == "true"
        assert meta["operation"] == "sum" and meta["mode"] == "QueueLength"
        pattern = re.compile(meta["queueName"])
        for covered in (queue, f"{queue}.shard.0", f"{queue}.shard.15"):
            assert pattern.search(covered), covered
        for other in (f"{queue}.dlq", f"{queue}.shard.3.dlq", f"x{queue}", "wa.retry.1000"):
            assert not pattern.search(other), other
        if overlay == "production":
            # KEDA resolves the broker from its own namespace: the host names ours
            assert meta["host"].startswith(f"http://wa-rabbitmq.{namespace}.svc:")
    # an autoscaled Deployment leaves its replica count to the autoscaler
    deployments = workloads(overlay)
    for name in [*QUEUES, "meta-gateway", "console"]:
        assert "replicas" not in deployments[name]["spec"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_shard_consumer_pod_owns_its_own_shards(overlay: str) -> None:
    """A replica consumes shards i % REPLICA_COUNT == REPLICA_INDEX first (branch `scale`,
    wacommon.broker.shards.assigned_shards): pods of a Deployment would all be index 0 and the
    first one would be active on every shard, the others idle. StatefulSet ordinals are
    stable; REPLICA_COUNT is the autoscaler's maximum, so no index ever changes its shards,
    and at most BROKER_SHARDS replicas, so every pod the autoscaler starts owns one."""
    config = objects(overlay, "ConfigMap")["wa-config"]["data"]
    shards = int(config["BROKER_SHARDS"])
    scaled = objects(overlay, "ScaledObject")
    sets = objects(overlay, "StatefulSet")
    for name in QUEUES:
        target = scaled[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("StatefulSet", name)
        spec = sets[name]["spec"]
        assert spec["podManagementPolicy"] == "Parallel"
        (container,) = spec["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        field = env["REPLICA_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert field == "metadata.labels['apps.kubernetes.io/pod-index']"
        count = int(env["REPLICA_COUNT"]["value"])
        assert count == scaled[name]["spec"]["maxReplicaCount"] <= shards
    # the other services publish to the shards: one BROKER_SHARDS for all, from wa-config
    for name, workload in workloads(overlay).items():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert "BROKER_SHARDS" not in {e["name"] for e in container["env"]}, name


def test_stateful_parts_run_on_their_operators() -> None:
    (rabbit,) = objects("production", "RabbitmqCluster").values()
    assert rabbit["spec"]["replicas"] == 3
    assert "default_queue_type = quorum" in rabbit["spec"]["rabbitmq"]["additionalConfig"]
    (pg,) = objects("production", "Cluster").values()
    assert pg["spec"]["instances"] >= 2
    store = pg["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and store["s3Credentials"]
    assert pg["spec"]["bootstrap"]["initdb"]["database"] == "wa_assistant"
    (backup,) = objects("production", "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == pg["metadata"]["name"]
    redis = objects("production", "StatefulSet")["wa-redis"]
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert redis["spec"]["volumeClaimTemplates"]
    # the Secrets the operators write are the ones the services read
    assert f"`{pg['metadata']['name']}-app`" in OPERATIONS
    assert f"`{rabbit['metadata']['name']}-default-user`" in OPERATIONS
    # the external-services overlay deploys none of them
    external = {o["kind"] for o in rendered("external-services")}
    assert not external & {"RabbitmqCluster", "Cluster"}
    assert "wa-redis" not in objects("external-services", "StatefulSet")


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    (monitor,) = objects("production", "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    services = objects("production", "Service")
    for name in SERVICES:
        labels = services[name]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert endpoint["port"] in {p["name"] for p in services[name]["spec"]["ports"]}
    config = objects("production", "ConfigMap")["wa-config"]["data"]
    assert config["INTERNAL_HTTP_PORT"] == "9000"


def _env_example_settings() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def _documented_in_kubernetes_table() -> set[str]:
    section = OPERATIONS.split("## Settings in Kubernetes", 1)[1].split("\n## ", 1)[0]
    return {
        name
        for line in section.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_in_the_manifests_or_documented_as_not_applicable(overlay: str) -> None:
    config = objects(overlay, "ConfigMap")["wa-config"]["data"]
    per_pod = {
        e["name"]
        for d in workloads(overlay).values()
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
    }
    documented = _documented_in_kubernetes_table()
    missing = sorted(_env_example_settings() - set(config) - per_pod - documented)
    assert missing == [], f"add to wa-config or to docs/operations.md's table: {missing}"
    assert set(config) <= SETTINGS_VARS, set(config) - SETTINGS_VARS
    known = SETTINGS_VARS | _env_example_settings()
    assert documented <= known, documented - known


def test_the_config_values_parse_as_the_services_settings() -> None:
    config = objects("production", "ConfigMap")["wa-config"]["data"]
    env = {**config, "ADMIN_TOKEN": "x" * 32, "ENCRYPTION_KEY": "k"}
    with mock.patch.dict(os.environ, env, clear=True):
        for cls in (Settings, FollowupSettings, MetricsSettings, ConsoleSettings):
            parsed = cls(_env_file=None)  # type: ignore[call-arg]
            for name in cls.model_fields:
                if name.upper() in config:
                    assert getattr(parsed, name) is not None, name
        assert Settings(_env_file=None).migrate_on_start is False  # type: ignore[call-arg]
        assert ConsoleSettings(_env_file=None).console_insecure_cookies is False  # type: ignore[call-arg]
    with mock.patch.dict(os.environ, config, clear=True):
        ai = AISettings(_env_file=None)  # type: ignore[call-arg]
    assert ai.llm_provider == config["LLM_PROVIDER"]
    assert ai.llm_max_tokens == int(config["LLM_MAX_TOKENS"])
