"""The Python renderer does what kustomize does for the features the manifests use, and refuses
the ones it does not implement (so a manifest cannot rely on a feature the CI check ignores)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize_lite import render

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "template": {
            "spec": {
                "initContainers": [{"name": "wait", "image": "app"}],
                "containers": [
                    {"name": "web", "image": "app:latest", "env": [{"name": "A", "value": "1"}]},
                    {"name": "cache", "image": "redis:7"},
                ],
            }
        }
    },
}


def _write(folder: Path, kustomization: dict[str, object], **files: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    for name, docs in files.items():
        (folder / name.replace("_", ".")).write_text(yaml.safe_dump_all(docs))  # type: ignore[arg-type]
    return folder


def test_namespace_images_and_patches(tmp_path: Path) -> None:
    _write(tmp_path / "base", {"resources": ["app.yaml"]}, app_yaml=[DEPLOYMENT])
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}]}
            }
        },
    }
    overlay = _write(
        tmp_path / "overlay",
        {
            "namespace": "prod",
            "resources": ["../base"],
            "images": [{"name": "app", "newName": "reg.example/app", "newTag": "1.2"}],
            "patches": [
                {"path": "patch.yaml"},
                {
                    "target": {"kind": "Deployment"},
                    "patch": yaml.safe_dump(
                        [{"op": "replace", "path": "/metadata/name", "value": "www"}]
                    ),
                },
            ],
        },
        patch_yaml=[patch],
    )
    (obj,) = render(overlay)
    assert obj["metadata"] == {"name": "www", "namespace": "prod"}
    pod = obj["spec"]["template"]["spec"]
    web, cache = pod["containers"]
    # containers and env merge by name, as the Kubernetes strategic merge does
    assert web["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    assert (
        web["image"] == "reg.example/app:1.2"
        and pod["initContainers"][0]["image"] == "reg.example/app:1.2"
    )
    assert cache["image"] == "redis:7"
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        out = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, check=True)
        assert [d for d in yaml.safe_load_all(out.stdout) if d] == [obj]


def test_unknown_kustomization_fields_and_missing_targets_are_refused(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "a",
        {"resources": ["app.yaml"], "commonLabels": {"x": "y"}},
        app_yaml=[DEPLOYMENT],
    )
    with pytest.raises(ValueError, match="commonLabels"):
        render(folder)
    folder = _write(
        tmp_path / "b",
        {"resources": ["app.yaml"], "patches": [{"target": {"kind": "Service"}, "patch": "[]"}]},
        app_yaml=[DEPLOYMENT],
    )
    with pytest.raises(ValueError, match="matches nothing"):
        render(folder)
