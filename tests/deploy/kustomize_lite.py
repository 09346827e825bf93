"""The subset of kustomize that deploy/k8s uses, in Python, so CI renders without kubectl.

Supported (and nothing else: an unknown kustomization field raises, so the manifests cannot
drift into features this renderer would silently ignore): `resources` (files and folders),
`namespace`, `images` (newName / newTag), `patches` as strategic-merge files matched by kind
and name, and inline JSON6902 patches with a `target` (kind, optional name). Where kubectl is
installed, tests/deploy/test_k8s_manifests.py checks this renderer's output equals
`kubectl kustomize` for every overlay.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KNOWN_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
# kinds without a namespace among those we could ever render
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
# merge keys of the strategic-merge lists our patches may touch (as in the Kubernetes API)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name"}


def render(folder: Path) -> list[Obj]:
    """Every object of the kustomization in `folder`, transformed as kustomize would."""
    kustomization: Obj = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise ValueError(f"{folder}: kustomization fields this renderer does not know: {unknown}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        _apply_patch(folder, objects, patch)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                _retag(container, image)
    return objects


def _apply_patch(folder: Path, objects: list[Obj], patch: Obj) -> None:
    if set(patch) == {"path"}:
        for doc in yaml.safe_load_all((folder / patch["path"]).read_text()):
            target = _find(objects, doc["kind"], doc["metadata"]["name"])
            merged = _strategic_merge(target, doc)
            target.clear()
            target.update(merged)
        return
    if set(patch) == {"target", "patch"}:
        ops = yaml.safe_load(patch["patch"])
        selected = [
            o
            for o in objects
            if o["kind"] == patch["target"]["kind"]
            and patch["target"].get("name", o["metadata"]["name"]) == o["metadata"]["name"]
        ]
        if not selected:
            raise ValueError(f"patch target matches nothing: {patch['target']}")
        for obj in selected:
            for op in ops:
                _json_patch(obj, op)
        return
    raise ValueError(f"unsupported patch form: {sorted(patch)}")


def _find(objects: list[Obj], kind: str, name: str) -> Obj:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise ValueError(f"patch target not found: {kind}/{name}")


def _strategic_merge(base: Any, patch: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            out[k] = _strategic_merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    merge_key = MERGE_KEYS.get(key)
    if isinstance(base, list) and isinstance(patch, list) and merge_key:
        # kustomize's order: the patch's items (merged with their namesakes) in the patch's
        # order, then the items only the base has, in the base's order
        by_key = {b.get(merge_key): b for b in base}
        patched = [
            _strategic_merge(by_key[i[merge_key]], i) if i[merge_key] in by_key else i
            for i in patch
        ]
        named = {i[merge_key] for i in patch}
        return copy.deepcopy(patched + [b for b in base if b.get(merge_key) not in named])
    # scalars and lists without a merge key are replaced whole
    return copy.deepcopy(patch)


def _json_patch(obj: Obj, op: Obj) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    index: Any = int(last) if isinstance(node, list) and last != "-" else last
    if op["op"] == "replace":
        exists = index < len(node) if isinstance(node, list) else index in node
        if not exists:
            raise ValueError(f"JSON patch replaces a missing path: {op['path']}")
        node[index] = op["value"]
    elif op["op"] == "add":
        if isinstance(node, list) and index == "-":
            node.append(op["value"])
        elif isinstance(node, list):
            node.insert(index, op["value"])
        else:
            node[index] = op["value"]
    elif op["op"] == "remove":
        del node[index]
    else:
        raise ValueError(f"unsupported JSON patch op: {op['op']}")


def _containers(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if isinstance(spec, dict) else {}
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def _retag(container: Obj, image: Obj) -> None:
    ref = str(container.get("image", "")).split("@")[0]
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:  # no tag, or the colon was a registry's port
        name, tag = ref, ""
    if name != image["name"]:
        return
    new_name = image.get("newName", name)
    new_tag = image.get("newTag", tag)
    container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
