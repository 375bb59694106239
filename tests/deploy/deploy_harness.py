"""Helpers for the deployment tests: render kustomize, validate against
Kubernetes' schemas, and find things in the rendered objects."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUSTOMIZATIONS = {
    "base": DEPLOY / "k8s" / "base",
    "dev": DEPLOY / "k8s" / "overlays" / "dev",
    "production": DEPLOY / "k8s" / "overlays" / "production",
}
# The oldest Kubernetes we support (the preStop `sleep` action is on by
# default since 1.30) and a current one.
KUBERNETES_VERSIONS = ["1.30.0", "1.35.0"]
ATTN_SERVICES = {"attendance": 50051, "verification": 50052, "sweeper": 50053}
# Each service's admin listener (Prometheus text at /metrics).
METRICS_PORTS = {"attendance": 9101, "verification": 9102, "sweeper": 9103}
SECRET_SETTINGS = {"ATTN_DATABASE_URL", "ATTN_INTERNAL_TOKEN", "ATTN_REDIS_URL"}


def kubectl() -> str:
    found = os.environ.get("KUBECTL")
    if not found:
        raise RuntimeError("KUBECTL is not set: run tests/deploy/run.sh, which installs kubectl")
    return found


def kustomize(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)


@functools.cache
def rendered(name: str) -> tuple[dict, ...]:
    result = kustomize(KUSTOMIZATIONS[name])
    if result.returncode != 0:
        raise AssertionError(f"kustomize {name} failed: {result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def schema_errors(docs, version: str) -> list[str]:
    """Every object checked against Kubernetes' schema for `version`,
    strictly: unknown fields are errors, like `kubectl apply --validate=strict`."""
    errors = []
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{where}: {'.'.join(str(p) for p in error.path)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{where}: no schema: {error}")
    return errors


def objects(docs, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def all_containers(deployment: dict) -> list[dict]:
    spec = pod_spec(deployment)
    return spec.get("initContainers", []) + spec["containers"]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())
