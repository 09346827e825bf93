"""Vendor a CRD's OpenAPI schema for the offline validation (tests/deploy/test_k8s_manifests.py).

    python deploy/k8s/schemas/extract.py CRD.yaml --repository OWNER/NAME --path PATH_IN_REPO \\
        --commit SHA --license SPDX [--describe TAG]

Writes `<kind>-<group's first label>-<version>.json` here for every served version: the
`openAPIV3Schema` unchanged, plus `x-source` (where it came from, under which license) and
`x-kubernetes-gvk` (which objects it validates).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crd", type=Path)
    for name in ("repository", "path", "commit", "license"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--describe", default="", help="the commit's `git describe --tags`")
    args = parser.parse_args()
    crd = yaml.safe_load(args.crd.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        doc = {
            "$comment": f"openAPIV3Schema of {kind} {group}/{version['name']}, extracted unchanged "
            f"from {args.repository} {args.path} at {args.describe} ({args.commit}); "
            f"license {args.license}",
            "x-source": {
                "repository": args.repository,
                "path": args.path,
                "commit": args.commit,
                "license": args.license,
            },
            "x-kubernetes-gvk": {"group": group, "version": version["name"], "kind": kind},
            **version["schema"]["openAPIV3Schema"],
        }
        out = Path(__file__).parent / f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        out.write_text(text + "\n")
        print(out)


if __name__ == "__main__":
    main()
