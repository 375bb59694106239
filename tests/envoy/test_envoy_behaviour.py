"""A live Envoy running deploy/envoy/envoy.yaml does what the front door promises.

The config is the repository's own, with the CORS origins rendered by
render-cors.sh and only the addresses changed (ephemeral ports on 127.0.0.1,
the attendance cluster pointed at a stand-in gRPC server that reports what
reached it). Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import urllib.parse

import grpc
import pytest
import yaml

from harness import (
    ENVOY_YAML,
    NOT_SERVING,
    SERVING,
    FakeAttendance,
    RunningEnvoy,
    eventually,
    grpc_web_frame,
    live_copy,
    parse_grpc_web,
    render_cors,
    temp_dir,
)

ALLOWED = "https://attn.example.edu"
OTHER = "https://evil.example.com"


@pytest.fixture(scope="module")
def replicas():
    with FakeAttendance("a") as a, FakeAttendance("b") as b:
        yield a, b


@pytest.fixture(scope="module")
def backend(replicas):
    """Calls land on either replica; the tests that count calls count both."""
    return Both(replicas)


class Both:
    def __init__(self, replicas) -> None:
        self.replicas = replicas

    @property
    def seen(self) -> list[dict]:
        return [call for replica in self.replicas for call in replica.seen]


def all_healthy(envoy: RunningEnvoy, replicas) -> bool:
    return envoy.upstream_health() == {r.port: "healthy" for r in replicas}


@pytest.fixture(scope="module")
def envoy(replicas):
    work = temp_dir()
    rendered = work / "envoy.yaml"
    assert render_cors(ENVOY_YAML, rendered, ALLOWED).returncode == 0
    config = live_copy(yaml.safe_load(rendered.read_text()), [r.port for r in replicas])
    with RunningEnvoy(config, work) as running:
        eventually(lambda: all_healthy(running, replicas), what="both replicas to pass Envoy's gRPC health check")
        yield running


def post(envoy: RunningEnvoy, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """Returns status, headers (repeated ones joined with ", ") and body."""
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=20)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        joined: dict[str, str] = {}
        for key, value in response.getheaders():
            key = key.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return response.status, joined, response.read()
    finally:
        connection.close()


def grpc_web_headers(**extra: str) -> dict[str, str]:
    return {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "origin": ALLOWED, **extra}


def test_envoy_answers_its_own_health_endpoint(envoy):
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=5)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200


def test_a_grpc_web_call_reaches_attendance_as_grpc_with_cors_headers(envoy, backend):
    status, headers, body = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""), grpc_web_headers())
    assert status == 200
    [message], trailers = parse_grpc_web(body)
    assert trailers.get("grpc-status") == "0", trailers
    # The stand-in is grpcio, which speaks only gRPC over HTTP/2: Envoy translated.
    assert json.loads(message)["replica"] in {"a", "b"}
    # Exactly one grant, Envoy's, even though attendance-service sent its own.
    assert headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip() for h in headers["access-control-expose-headers"].split(",")}
    assert {"grpc-status", "grpc-message", "x-grpc-web"} <= exposed


def forwarded_for(envoy: RunningEnvoy, **headers: str) -> list[str]:
    status, _, body = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""), grpc_web_headers(**headers))
    assert status == 200
    [message], _ = parse_grpc_web(body)
    return [hop.strip() for hop in json.loads(message)["metadata"]["x-forwarded-for"].split(",")]


def test_envoy_reports_the_client_address_it_saw(envoy):
    [client] = forwarded_for(envoy)
    # For a loopback peer Envoy writes its own non-loopback address; from
    # anywhere else, the TCP peer. Either way: an address, written by Envoy.
    assert ipaddress.ip_address(client)


def test_a_forged_forwarded_for_is_left_of_the_address_envoy_saw(envoy):
    [client] = forwarded_for(envoy)
    # attendance-service believes only the rightmost hop, which Envoy wrote.
    assert forwarded_for(envoy, **{"x-forwarded-for": "10.9.8.7"}) == ["10.9.8.7", client]


def test_native_grpc_clients_get_their_address_appended_too(envoy):
    [client] = forwarded_for(envoy)
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        who_am_i = channel.unary_unary("/attn.v1.AuthService/WhoAmI")
        reply = who_am_i(b"", metadata=[("x-forwarded-for", "192.0.2.1")], timeout=10)
    hops = [h.strip() for h in json.loads(reply)["metadata"]["x-forwarded-for"].split(",")]
    assert hops == ["192.0.2.1", client]


def preflight(envoy: RunningEnvoy, origin: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    connection.request("OPTIONS", "/attn.v1.StudentService/Attend", headers={
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-grpc-web,x-user-agent",
    })
    response = connection.getresponse()
    response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}


def test_a_preflight_from_an_allowed_origin_is_granted(envoy):
    status, headers = preflight(envoy, ALLOWED)
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in headers["access-control-allow-methods"]


def test_a_preflight_from_another_origin_is_not_granted(envoy):
    _, headers = preflight(envoy, OTHER)
    assert "access-control-allow-origin" not in headers


def test_a_two_mebibyte_selfie_gets_through(envoy, backend):
    selfie = b"\xff" * (2 * 1024 * 1024 + 1024)
    status, _, body = post(envoy, "/attn.v1.StudentService/Attend", grpc_web_frame(selfie), grpc_web_headers())
    assert status == 200
    [message], trailers = parse_grpc_web(body)
    assert trailers["grpc-status"] == "0"
    assert int(message) == len(selfie)


def test_a_grpc_web_request_over_the_limit_gets_resource_exhausted_with_a_clear_message(envoy, backend):
    calls_before = len(backend.seen)
    too_big = b"\xff" * (4 * 1024 * 1024)
    status, headers, body = post(envoy, "/attn.v1.StudentService/Attend", grpc_web_frame(too_big), grpc_web_headers())
    # A trailers-only gRPC answer the browser may read (CORS headers present).
    assert status == 200
    assert headers["grpc-status"] == "8", headers
    assert headers["grpc-message"].startswith("request too large"), headers
    assert headers["access-control-allow-origin"] == ALLOWED
    assert len(backend.seen) == calls_before, "the oversized call reached attendance-service"


def test_a_grpc_request_over_the_limit_gets_resource_exhausted_too(envoy, backend):
    calls_before = len(backend.seen)
    options = [("grpc.max_send_message_length", 8 * 1024 * 1024)]
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}", options=options) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary("/attn.v1.StudentService/Attend")(b"\xff" * (4 * 1024 * 1024), timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.details().startswith("request too large")
    assert len(backend.seen) == calls_before


def test_a_roster_stream_delivers_every_change_over_grpc_web(envoy, backend):
    status, _, body = post(envoy, "/attn.v1.TeacherService/WatchRecords", grpc_web_frame(b""), grpc_web_headers())
    assert status == 200
    messages, trailers = parse_grpc_web(body)
    assert messages == [b"change 0", b"change 1", b"change 2"]
    assert trailers["grpc-status"] == "0"


def test_a_replica_that_reports_not_serving_stops_getting_calls(envoy, replicas):
    serving, draining = replicas
    draining.health = NOT_SERVING
    try:
        eventually(lambda: envoy.upstream_health()[draining.port] != "healthy",
                   what="Envoy to mark the draining replica unhealthy")
        before = len(draining.seen)
        with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
            who_am_i = channel.unary_unary("/attn.v1.AuthService/WhoAmI")
            answered_by = {json.loads(who_am_i(b"", timeout=10))["replica"] for _ in range(20)}
        assert answered_by == {serving.name}
        assert len(draining.seen) == before
    finally:
        draining.health = SERVING
    eventually(lambda: all_healthy(envoy, replicas), what="the replica to be healthy again")


# === What the front door refuses, and how ===

NOT_SERVED = "not served here"


def list_services_then_wait():
    yield b"\x3a\x00"
    time.sleep(10)


def test_health_and_reflection_are_refused_with_a_plain_status_and_never_reach_attendance(envoy, backend):
    calls_before = len(backend.seen)
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        refusals = []
        with pytest.raises(grpc.RpcError) as check:
            channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
        refusals.append(check.value)
        with pytest.raises(grpc.RpcError) as watch:
            # Health/Watch never ends by itself: an anonymous stream for as long as the client likes.
            list(channel.unary_stream("/grpc.health.v1.Health/Watch")(b"", timeout=5))
        refusals.append(watch.value)
        with pytest.raises(grpc.RpcError) as reflection:
            # A bidirectional stream whose client never ends its side: refused
            # on the headers, not after waiting for a body that never finishes.
            info = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
            list(info(list_services_then_wait(), timeout=5))
        refusals.append(reflection.value)
    for refused in refusals:
        assert refused.code() == grpc.StatusCode.UNIMPLEMENTED, refused
        assert NOT_SERVED in refused.details(), refused.details()
    assert len(backend.seen) == calls_before, "a refused call reached attendance-service"


def test_a_browser_reads_the_same_refusal_over_grpc_web(envoy):
    status, headers, _ = post(envoy, "/grpc.health.v1.Health/Check", grpc_web_frame(b""), grpc_web_headers())
    assert status == 200 and headers["grpc-status"] == "12", (status, headers)
    assert NOT_SERVED in urllib.parse.unquote(headers["grpc-message"])
    # No CORS grant: Envoy's CORS filter answers only calls it routes. The app
    # never calls these paths; a page of its own origin reads the status anyway.


@pytest.mark.parametrize("method,path", [("POST", "/upload"), ("PUT", "/"), ("DELETE", "/index.html")])
def test_plain_http_outside_the_api_and_the_pages_gets_404(envoy, method: str, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    connection.request(method, path, body=b"x")
    response = connection.getresponse()
    assert response.status == 404
    assert NOT_SERVED in response.read().decode()


@pytest.mark.parametrize("path", ["/%67rpc.health.v1.Health/Watch", "//grpc.health.v1.Health/Watch",
                                  "/assets/../grpc.health.v1.Health/Watch"])
def test_another_spelling_of_a_refused_path_is_refused_too(envoy, backend, path: str):
    """GET reaches attendance-service (the browser app), but not health by another name."""
    calls_before = len(backend.seen)
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 404 and NOT_SERVED in response.read().decode()
    assert len(backend.seen) == calls_before
