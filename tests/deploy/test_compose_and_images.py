"""deploy/compose.yaml matches the Compose Specification and wires the stack
as documented; deploy/docker/Dockerfile parses (BuildKit's parser) and
builds every service's image as a non-root, shell-free runtime."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
import yaml

from deploy_harness import DEPLOY, REPO

COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
TARGETS = {"attendance-service", "verification-service", "sweeper-service", "face-gateway-standin"}
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def compose_schema_check(path: Path) -> subprocess.CompletedProcess:
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_matches_the_compose_specification():
    result = compose_schema_check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("before,after", [
    ("ipv4_address: 172.30.80.10", "ipv4_adress: 172.30.80.10"),
    ("      interval: 5s\n", "      interval: [5s]\n"),
    ("    depends_on:\n", "    depends_upon:\n"),
], ids=["misspelled_field", "wrong_type", "unknown_service_key"])
def test_the_compose_schema_check_refuses_a_broken_copy(tmp_path: Path, before: str, after: str):
    text = COMPOSE.read_text()
    assert before in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace(before, after, 1))
    assert compose_schema_check(broken).returncode != 0


def test_compose_runs_the_whole_stack_with_health_checks():
    services = compose()["services"]
    assert {"redis", "postgres", "verification", "attendance", "sweeper", "envoy"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service or name == "face-gateway", f"{name} has no health check"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    for name in ("verification", "attendance", "sweeper"):
        test = services[name]["healthcheck"]["test"]
        assert test[1] == "/usr/local/bin/attn-health-probe", name
        assert services[name]["build"]["target"] in TARGETS


def test_attendance_trusts_exactly_envoys_address_on_the_compose_network():
    config = compose()
    [subnet] = [ipaddress.ip_network(c["subnet"]) for c in config["networks"]["attn"]["ipam"]["config"]]
    envoy_ip = ipaddress.ip_address(config["services"]["envoy"]["networks"]["attn"]["ipv4_address"])
    assert envoy_ip in subnet
    trusted = config["services"]["attendance"]["environment"]["ATTN_TRUSTED_PROXIES"]
    assert trusted == f"{envoy_ip}/32"


def test_compose_services_get_the_documented_settings():
    services = compose()["services"]
    for name in ("verification", "attendance", "sweeper"):
        env = services[name]["environment"]
        for setting in ("ATTN_REDIS_URL", "ATTN_DATABASE_URL", "ATTN_INTERNAL_TOKEN", "ATTN_VERIFICATION_URL",
                        "ATTN_LOG_FORMAT"):
            assert setting in env, f"{name} lacks {setting}"
    assert services["attendance"]["environment"]["ATTN_ATTENDANCE_ADDR"].endswith(":50051")
    assert services["verification"]["environment"]["ATTN_VERIFICATION_ADDR"].endswith(":50052")
    assert services["sweeper"]["environment"]["ATTN_SWEEPER_ADDR"].endswith(":50053")
    assert services["envoy"]["environment"]["ATTN_CORS_ORIGINS"] == services["attendance"]["environment"]["ATTN_CORS_ORIGINS"]


# === the Dockerfile ===


def stages() -> dict[str, list]:
    """Instructions per stage name, as BuildKit's parser reads them."""
    found: dict[str, list] = {}
    current: list = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        assert command.cmd.upper() in INSTRUCTIONS, f"line {command.start_line}: unknown {command.cmd}"
        if command.cmd.upper() == "FROM":
            current = [command]
            name = command.value[2] if len(command.value) == 3 and command.value[1].upper() == "AS" else str(len(found))
            found[name] = current
        else:
            current.append(command)
    return found


def stage_chain(name: str, all_stages: dict[str, list]) -> list[str]:
    chain = [name]
    while (parent := all_stages[chain[-1]][0].value[0]) in all_stages:
        chain.append(parent)
    return chain


def test_the_dockerfile_builds_every_service_with_sqlx_offline():
    all_stages = stages()
    assert TARGETS <= set(all_stages)
    builder = " ".join(" ".join(c.value) for c in all_stages["builder"])
    assert "SQLX_OFFLINE true" in builder
    for target in TARGETS:
        assert f"-p {target}" in builder, f"the builder does not build {target}"
    assert list(all_stages)[-1] == "attendance-service", "a plain docker build should give the public API"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_runtime_image_is_non_root_without_a_shell(target: str):
    all_stages = stages()
    chain = stage_chain(target, all_stages)
    instructions = [c for stage in chain for c in all_stages[stage]]
    users = [c.value[0] for c in instructions if c.cmd.upper() == "USER"]
    assert users and users[0].split(":")[0] not in ("0", "root"), f"{target} runs as root"
    [entrypoint] = [c for c in all_stages[target] if c.cmd.upper() == "ENTRYPOINT"]
    assert entrypoint.json, "ENTRYPOINT must be exec form: there is no shell at run time"
    assert entrypoint.value == (f"/usr/local/bin/{target}",)
    base = all_stages[chain[-1]][0].value[0]
    assert base == "${RUNTIME_IMAGE}"
    args = {c.value[0].split("=", 1)[0]: c.value[0].split("=", 1)[1]
            for c in dockerfile.parse_file(str(DOCKERFILE)) if c.cmd.upper() == "ARG" and "=" in c.value[0]}
    assert "distroless" in args["RUNTIME_IMAGE"] and args["RUNTIME_IMAGE"].endswith(":nonroot")


def test_the_build_context_keeps_what_cargo_needs_and_drops_build_output():
    lines = [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert "**/target/" in lines and ".git/" in lines
    for needed in (".sqlx", "Cargo.lock", ".cargo", "proto", "shared", "services", "tests"):
        assert not any(l.rstrip("/").lstrip("*/") == needed for l in lines), f"{needed} must stay in the context"


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")
def test_the_dockerfile_names_real_workspace_packages():
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline",
         "--manifest-path", str(REPO / "Cargo.toml")],
        capture_output=True, text=True, timeout=300,
    )
    if metadata.returncode != 0:
        metadata = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--manifest-path", str(REPO / "Cargo.toml")],
            capture_output=True, text=True, timeout=300,
        )
    assert metadata.returncode == 0, metadata.stderr
    binaries = {t["name"] for p in json.loads(metadata.stdout)["packages"] for t in p["targets"] if "bin" in t["kind"]}
    assert TARGETS <= binaries, f"not binaries of the workspace: {TARGETS - binaries}"


def test_compose_publishes_each_admin_port_on_loopback_and_prometheus_scrapes_them():
    services = compose()["services"]
    for name, port in {"attendance": 9101, "verification": 9102, "sweeper": 9103}.items():
        assert services[name]["environment"][f"ATTN_{name.upper()}_METRICS_ADDR"] == f"0.0.0.0:{port}", name
        assert f"127.0.0.1:{port}:{port}" in services[name]["ports"], name
    prometheus = services["prometheus"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in prometheus["volumes"]}
    assert mounts["./observability/prometheus-compose.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./observability/alerts.yml"] == "/etc/prometheus/alerts.yml"
    for source in ("./observability/prometheus-compose.yml", "./observability/alerts.yml"):
        assert (DEPLOY / source).is_file(), source
    config = yaml.safe_load((DEPLOY / "observability" / "prometheus-compose.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {"attendance": ["attendance:9101"], "verification": ["verification:9102"],
                       "sweeper": ["sweeper:9103"]}
