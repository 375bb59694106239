"""attn-health-probe (deploy/docker/health-probe), which compose's health
checks run inside the shell-free images, tells SERVING from everything else."""

from __future__ import annotations

import shutil
import socket
import subprocess
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from deploy_harness import REPO

SERVING, NOT_SERVING = b"\x08\x01", b"\x08\x02"

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")


@pytest.fixture(scope="module")
def probe() -> Path:
    # A workspace member: built into the workspace's target/, beside the
    # release builds of the services that share its dependencies.
    build = subprocess.run(
        ["cargo", "build", "--release", "--locked", "--quiet", "-p", "attn-health-probe"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert build.returncode == 0, build.stderr
    return REPO / "target" / "release" / "attn-health-probe"


class HealthServer:
    def __init__(self) -> None:
        self.status = SERVING
        self.asked: list[bytes] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))

        def check(request: bytes, context) -> bytes:
            self.asked.append(request)
            return self.status

        handler = grpc.unary_unary_rpc_method_handler(check, request_deserializer=None, response_serializer=None)
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")


@pytest.fixture(scope="module")
def health():
    server = HealthServer()
    server.server.start()
    yield server
    server.server.stop(grace=None)


def run(probe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(probe), *args], capture_output=True, text=True, timeout=30)


def test_a_serving_server_passes(probe, health):
    health.status = SERVING
    result = run(probe, f"127.0.0.1:{health.port}")
    assert result.returncode == 0, result.stderr
    assert health.asked[-1] == b"", "the probe should ask about the whole server (service \"\")"


def test_a_draining_server_fails(probe, health):
    health.status = NOT_SERVING
    try:
        result = run(probe, f"127.0.0.1:{health.port}")
    finally:
        health.status = SERVING
    assert result.returncode == 4
    assert "NOT_SERVING" in result.stderr


def test_nothing_listening_fails(probe):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(probe, f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert "cannot connect" in result.stderr
