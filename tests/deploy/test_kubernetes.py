"""The Kubernetes manifests render with kustomize, match Kubernetes' own
schemas, and follow ATTN's deployment rules (STYLE.md habit 14)."""

from __future__ import annotations

import copy
import ipaddress
import re

import pytest

from deploy_harness import (
    ATTN_SERVICES,
    DEPLOY,
    KUBERNETES_VERSIONS,
    KUSTOMIZATIONS,
    METRICS_PORTS,
    SECRET_SETTINGS,
    all_containers,
    objects,
    pod_spec,
    rendered,
    schema_errors,
    selects,
)

LAYOUTS = list(KUSTOMIZATIONS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_object_matches_the_kubernetes_schema(layout: str, version: str):
    docs = rendered(layout)
    assert len(docs) >= 15
    assert schema_errors(docs, version) == []


MISTAKES = {
    "a misspelled field": lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFilesytem=True),
    "a string for a port": lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
        containerPort="fifty-thousand"),
    "a probe with no handler field name": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        readinessProbe={"grcp": {"port": 50051}}),
}


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=lambda m: m.replace(" ", "_"))
def test_the_schema_check_refuses_a_broken_deployment(mistake: str):
    broken = copy.deepcopy(objects(rendered("production"), "Deployment")["attendance"])
    MISTAKES[mistake](broken)
    assert schema_errors([broken], KUBERNETES_VERSIONS[-1]), f"{mistake} was accepted"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_service_has_a_deployment_and_a_service(layout: str):
    docs = rendered(layout)
    deployments, services = objects(docs, "Deployment"), objects(docs, "Service")
    assert set(deployments) == set(ATTN_SERVICES) | {"envoy"}
    assert set(services) == set(ATTN_SERVICES) | {"envoy"}
    for name, service in services.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selects(service["spec"]["selector"], labels), f"Service {name} selects no pod"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pods_are_non_root_read_only_and_limited(layout: str):
    for name, deployment in objects(rendered(layout), "Deployment").items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in all_containers(deployment):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where} {kind}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_attn_services_are_probed_with_grpc_health(layout: str):
    deployments = objects(rendered(layout), "Deployment")
    for name, port in ATTN_SERVICES.items():
        [container] = pod_spec(deployments[name])["containers"]
        assert container["ports"][0]["containerPort"] == port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{name} {probe}"


def pdb_covers(docs, name: str) -> bool:
    labels = objects(docs, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    return any(selects(p["spec"]["selector"]["matchLabels"], labels) for p in objects(docs, "PodDisruptionBudget").values())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_attendance_and_verification_scale_out_behind_a_disruption_budget(layout: str):
    docs = rendered(layout)
    deployments = objects(docs, "Deployment")
    for name in ("attendance", "verification"):
        assert deployments[name]["spec"]["replicas"] >= 2, name
        assert pdb_covers(docs, name), f"no PodDisruptionBudget for {name}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_sweeper_runs_two_replicas_that_share_a_lease(layout: str):
    assert objects(rendered(layout), "Deployment")["sweeper"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_secrets_come_from_a_secret_and_never_from_the_configmap(layout: str):
    docs = rendered(layout)
    assert not objects(docs, "Secret"), "secret values must not be in the repository"
    for config_map in objects(docs, "ConfigMap").values():
        data = config_map.get("data", {})
        assert not SECRET_SETTINGS & set(data), config_map["metadata"]["name"]
        for key, value in data.items():
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), f"{key} carries a password"
    for name in ("attendance", "sweeper"):
        [container] = pod_spec(objects(docs, "Deployment")[name])["containers"]
        from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
                       for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert from_secret == {s: "attn-secrets" for s in SECRET_SETTINGS}, name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_configmap_a_pod_uses_exists(layout: str):
    docs = rendered(layout)
    config_maps = set(objects(docs, "ConfigMap"))
    for name, deployment in objects(docs, "Deployment").items():
        wanted = {v["configMap"]["name"] for v in pod_spec(deployment).get("volumes", []) if "configMap" in v}
        for container in all_containers(deployment):
            wanted |= {e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e}
            wanted |= {e["valueFrom"]["configMapKeyRef"]["name"] for e in container.get("env", [])
                       if "configMapKeyRef" in e.get("valueFrom", {})}
        assert wanted <= config_maps, f"{name} uses missing ConfigMaps {wanted - config_maps}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_envoy_runs_the_repositorys_config_behind_a_load_balancer_that_keeps_client_addresses(layout: str):
    docs = rendered(layout)
    service = objects(docs, "Service")["envoy"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    [config] = [c for n, c in objects(docs, "ConfigMap").items() if n.startswith("envoy-config")]
    assert config["data"]["envoy.yaml"] == (DEPLOY / "envoy" / "envoy.yaml").read_text()
    assert config["data"]["render-cors.sh"] == (DEPLOY / "envoy" / "render-cors.sh").read_text()
    # Envoy balances per call across attendance pods, which needs their addresses.
    assert objects(docs, "Service")["attendance"]["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_only_envoy_may_call_attendance_so_trusting_the_pod_network_is_safe(layout: str):
    docs = rendered(layout)
    policy = objects(docs, "NetworkPolicy")["attendance"]
    [rule] = [r for r in policy["spec"]["ingress"] if {"port": 50051, "protocol": "TCP"} in r["ports"]]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "envoy"}}}]
    assert rule["ports"] == [{"port": 50051, "protocol": "TCP"}]
    [settings] = [c for n, c in objects(docs, "ConfigMap").items() if n.startswith("attn-settings")]
    trusted = settings["data"]["ATTN_TRUSTED_PROXIES"].split(",")
    assert trusted and all(ipaddress.ip_network(cidr.strip()) for cidr in trusted)


def settings(layout: str) -> dict:
    [config] = [c for n, c in objects(rendered(layout), "ConfigMap").items() if n.startswith("attn-settings")]
    return config["data"]


def resources(layout: str, name: str) -> dict:
    return pod_spec(objects(rendered(layout), "Deployment")[name])["containers"][0]["resources"]


def test_overlays_change_replicas_resources_and_origins():
    assert settings("dev")["ATTN_CORS_ORIGINS"] != settings("production")["ATTN_CORS_ORIGINS"]
    assert settings("dev")["ATTN_DEMO_ACCOUNTS"] == "true"
    assert settings("production")["ATTN_DEMO_ACCOUNTS"] == "false"
    replicas = {layout: {n: d["spec"]["replicas"] for n, d in objects(rendered(layout), "Deployment").items()}
                for layout in ("dev", "production")}
    assert replicas["production"]["attendance"] > replicas["dev"]["attendance"]
    assert replicas["production"]["envoy"] > replicas["dev"]["envoy"]
    assert resources("production", "attendance") != resources("dev", "attendance")
    namespaces = {layout: {d["metadata"].get("namespace") for d in rendered(layout) if d["kind"] != "Namespace"}
                  for layout in ("dev", "production")}
    assert namespaces == {"dev": {"attn-dev"}, "production": {"attn"}}


def test_production_autoscales_the_public_api():
    [hpa] = objects(rendered("production"), "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "attendance"
    assert hpa["spec"]["minReplicas"] >= 2


def test_namespaces_enforce_the_restricted_pod_security_standard():
    for layout in ("dev", "production"):
        [namespace] = objects(rendered(layout), "Namespace").values()
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_prometheus_finds_each_pods_admin_port_by_its_annotations(layout: str):
    deployments = objects(rendered(layout), "Deployment")
    for name, port in METRICS_PORTS.items():
        template = deployments[name]["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == str(port), name
        assert annotations.get("prometheus.io/path") == "/metrics", name
        [container] = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container["ports"], name
        listen = {e["name"]: e.get("value") for e in container["env"]}
        assert listen[f"ATTN_{name.upper()}_METRICS_ADDR"] == f"0.0.0.0:{port}", name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_only_prometheus_may_reach_the_admin_ports_and_only_those(layout: str):
    policies = objects(rendered(layout), "NetworkPolicy")
    prometheus = [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    for name, port in METRICS_PORTS.items():
        rules = policies[name]["spec"]["ingress"]
        admitting = [r for r in rules if {"port": port, "protocol": "TCP"} in r["ports"]]
        assert admitting == [{"from": prometheus, "ports": [{"port": port, "protocol": "TCP"}]}], name
        # Prometheus is admitted to nothing else (the gRPC port stays as it was).
        for rule in rules:
            if rule["from"] == prometheus:
                assert rule["ports"] == [{"port": port, "protocol": "TCP"}], name
