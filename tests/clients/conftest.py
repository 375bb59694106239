"""The stack under test, as tests/clients/run.sh started it, and helpers to reach it.

run.sh passes the addresses in the environment:
  ATTN_CLIENTS_API             attendance-service (gRPC, grpc-web, the browser app), host:port
  ATTN_CLIENTS_SWEEPER         sweeper-service, host:port
  ATTN_CLIENTS_RUN_DIR         the services' log files
  ATTN_CLIENTS_ALLOWED_ORIGIN  the one origin in ATTN_CORS_ORIGINS
  ATTN_CLIENTS_FRONT_DOOR      Envoy (deploy/envoy/envoy.yaml, see front_door.py) in front of it, host:port
  ATTN_CLIENTS_STANDIN         the stand-in face gateway, host:port
  ATTN_CLIENTS_DATABASE_URL    the stack's database (for attendance-service import-roster)
"""

from __future__ import annotations

import http.client
import os
import struct
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass(frozen=True)
class Stack:
    api: str
    sweeper: str
    run_dir: Path
    allowed_origin: str
    front_door: str
    standin: str
    database_url: str

    def log(self, service: str) -> str:
        return (self.run_dir / f"{service}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def stack() -> Stack:
    missing = [
        name
        for name in ("ATTN_CLIENTS_API", "ATTN_CLIENTS_SWEEPER", "ATTN_CLIENTS_RUN_DIR", "ATTN_CLIENTS_ALLOWED_ORIGIN",
                     "ATTN_CLIENTS_FRONT_DOOR", "ATTN_CLIENTS_STANDIN", "ATTN_CLIENTS_DATABASE_URL")
        if not os.environ.get(name)
    ]
    if missing:
        pytest.fail(f"run these tests with tests/clients/run.sh (it starts the stack and Envoy); missing {', '.join(missing)}")
    return Stack(
        api=os.environ["ATTN_CLIENTS_API"],
        sweeper=os.environ["ATTN_CLIENTS_SWEEPER"],
        run_dir=Path(os.environ["ATTN_CLIENTS_RUN_DIR"]),
        allowed_origin=os.environ["ATTN_CLIENTS_ALLOWED_ORIGIN"],
        front_door=os.environ["ATTN_CLIENTS_FRONT_DOOR"],
        standin=os.environ["ATTN_CLIENTS_STANDIN"],
        database_url=os.environ["ATTN_CLIENTS_DATABASE_URL"],
    )


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """Python code generated from the public package (proto/attn/v1; a client
    never sees attn.internal.v1) with grpcio-tools, now (never committed)."""
    out = tmp_path_factory.mktemp("gen")
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "attn" / "v1").glob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}",
         f"--grpc_python_out={out}", *protos],
        check=True,
    )
    sys.path.insert(0, str(out))
    from attn.v1 import (  # noqa: PLC0415 (generated just now)
        auth_pb2, auth_pb2_grpc, common_pb2, student_pb2, student_pb2_grpc, teacher_pb2, teacher_pb2_grpc,
    )

    class Generated:
        auth, auth_grpc = auth_pb2, auth_pb2_grpc
        common = common_pb2
        student, student_grpc = student_pb2, student_pb2_grpc
        teacher, teacher_grpc = teacher_pb2, teacher_pb2_grpc

    return Generated


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# === grpc-web over plain HTTP/1.1, as a browser sends it ===


@dataclass
class WebReply:
    http_status: int
    headers: dict[str, str]
    messages: list[bytes]
    grpc_status: int | None
    grpc_message: str


def grpc_web_call(
    api: str, path: str, message: bytes, *, token: str | None = None, origin: str | None = None
) -> WebReply:
    """One grpc-web (binary) call; the status comes from the headers (trailers-only) or the trailer frame."""
    body = b"\x00" + struct.pack(">I", len(message)) + message
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "attn-tests"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if origin:
        headers["origin"] = origin
    host, port = api.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (and close) before a large body is all sent.
            pass
        response = conn.getresponse()
        raw = response.read()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    messages, trailers = [], {}
    i = 0
    while i + 5 <= len(raw):
        flag, length = raw[i], struct.unpack(">I", raw[i + 1 : i + 5])[0]
        frame = raw[i + 5 : i + 5 + length]
        i += 5 + length
        if flag & 0x80:
            for line in frame.decode().split("\r\n"):
                if ":" in line:
                    key, value = line.split(":", 1)
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(frame)
    status = trailers.get("grpc-status", reply_headers.get("grpc-status"))
    text = trailers.get("grpc-message", reply_headers.get("grpc-message", ""))
    # grpc-message is percent-encoded.
    return WebReply(response.status, reply_headers, messages, int(status) if status is not None else None, unquote(text))


def http_request(api: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    host, port = api.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()
