"""A live Envoy running deploy/envoy/envoy.yaml does what the front door promises.

The config is the repository's own, with the CORS origins rendered by
render-cors.sh and only the addresses changed (ephemeral ports on 127.0.0.1,
the attendance cluster pointed at a stand-in gRPC server that reports what
reached it). Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
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
    connection_manager,
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


@contextlib.contextmanager
def envoy_running(replicas, adjust=None):
    """A live Envoy with the repository's config (origins rendered, addresses
    changed); `adjust(config)` may change it further for one test."""
    work = temp_dir()
    rendered = work / "envoy.yaml"
    assert render_cors(ENVOY_YAML, rendered, ALLOWED).returncode == 0
    config = live_copy(yaml.safe_load(rendered.read_text()), [r.port for r in replicas])
    if adjust:
        adjust(config)
    with RunningEnvoy(config, work) as running:
        eventually(lambda: all_healthy(running, replicas), what="both replicas to pass Envoy's gRPC health check")
        yield running


@pytest.fixture(scope="module")
def envoy(replicas):
    with envoy_running(replicas) as running:
        yield running


def post(
    envoy: RunningEnvoy, path: str, body: bytes, headers: dict[str, str], source: str = "127.0.0.1"
) -> tuple[int, dict, bytes]:
    """Returns status, headers (repeated ones joined with ", ") and body."""
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=20, source_address=(source, 0))
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


# === Limits: per address, per request, per stream, per Envoy ===


def per_address_burst(config: dict) -> int:
    """The per-address bucket's size (200 if there is none, to show that nothing refuses)."""
    for f in connection_manager(config)["http_filters"]:
        if f["name"] == "envoy.filters.http.local_ratelimit":
            [wildcard] = [d for d in f["typed_config"]["descriptors"] if d["entries"][0]["value"] == ""]
            return wildcard["token_bucket"]["max_tokens"]
    return 200


def test_a_client_over_its_address_limit_gets_resource_exhausted_and_other_addresses_do_not(replicas):
    burst = per_address_burst(yaml.safe_load(ENVOY_YAML.read_text()))
    # An Envoy of its own: the buckets of the shared one stay full for the other tests.
    with envoy_running(replicas) as envoy, grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        who_am_i = channel.unary_unary("/attn.v1.AuthService/WhoAmI")
        refused = None
        for sent in range(1, 2 * burst + 100):
            try:
                who_am_i(b"", timeout=10)
            except grpc.RpcError as error:
                refused = error
                break
        assert refused is not None, f"{sent} calls from one address in a row, none refused"
        # gRPC clients retry UNAVAILABLE at once; RESOURCE_EXHAUSTED says slow down.
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
        assert "too many requests" in refused.details(), refused.details()
        assert sent > burst, f"refused after {sent} calls, before the bucket of {burst} was spent"

        # Meanwhile another address (a browser, grpc-web over HTTP/1.1) is served...
        status, _, body = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""), grpc_web_headers(),
                               source="127.0.0.9")
        assert status == 200 and parse_grpc_web(body)[1]["grpc-status"] == "0"
        # ...until it spends its own bucket, and then reads the same status.
        for _ in range(2 * burst + 100):
            status, headers, body = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""),
                                         grpc_web_headers(), source="127.0.0.9")
            if headers.get("grpc-status", "0") != "0":
                break
        assert status == 200 and headers.get("grpc-status") == "8", (status, headers)
        assert "too many requests" in urllib.parse.unquote(headers["grpc-message"])
        assert headers["access-control-allow-origin"] == ALLOWED


def shorten(config: dict, *, request_timeout=None, stream_duration=None, connections=None) -> None:
    """Shortens limits the config HAS (an absent one stays absent, so the test
    shows it missing), to see them act within a test's time."""
    hcm = connection_manager(config)
    if request_timeout and "request_timeout" in hcm:
        hcm["request_timeout"] = request_timeout
    if stream_duration:
        for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
            limits = route.get("route", {}).get("max_stream_duration", {})
            if "max_stream_duration" in limits:
                limits["max_stream_duration"] = stream_duration
    if connections:
        for monitor in config.get("overload_manager", {}).get("resource_monitors", []):
            if monitor["name"] == "envoy.resource_monitors.global_downstream_max_connections":
                monitor["typed_config"]["max_active_downstream_connections"] = connections


def test_a_request_whose_body_never_finishes_is_cut_off_with_deadline_exceeded(replicas, backend):
    with envoy_running(replicas, lambda c: shorten(c, request_timeout="2s")) as envoy:
        calls_before = len(backend.seen)
        with socket.create_connection(("127.0.0.1", envoy.port), timeout=15) as slow:
            announced = 1024 * 1024
            slow.sendall(
                b"POST /attn.v1.StudentService/Attend HTTP/1.1\r\nhost: attn\r\n"
                b"content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\norigin: " + ALLOWED.encode()
                + b"\r\ncontent-length: " + str(5 + announced).encode() + b"\r\n\r\n"
                + grpc_web_frame(b"\xff" * announced)[:5 + 1024]
            )
            try:
                answer = slow.recv(65536)
            except TimeoutError:
                pytest.fail("no answer in 15 s: a body that never finishes holds its stream")
    head = answer.decode(errors="replace").lower()
    assert head.startswith("http/1.1 200"), head
    assert "grpc-status: 4" in head, head  # DEADLINE_EXCEEDED, not UNKNOWN
    assert "access-control-allow-origin: " + ALLOWED in head, head
    assert len(backend.seen) == calls_before, "the unfinished request reached attendance-service"


def test_a_server_stream_is_cut_at_its_maximum_duration(replicas):
    with envoy_running(replicas, lambda c: shorten(c, stream_duration="1s")) as envoy:
        with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
            stream = channel.unary_stream("/attn.v1.StudentService/WatchMyRecord")(b"", timeout=10)
            received = 0
            with pytest.raises(grpc.RpcError) as ended:
                for _ in stream:
                    received += 1
    assert received >= 1, "the stream never started"
    # Cut by Envoy (a reset: the client reconnects), not by the client's own 10 s deadline.
    assert ended.value.code() != grpc.StatusCode.DEADLINE_EXCEEDED, ended.value


def http_healthz(connection: socket.socket) -> bytes:
    connection.sendall(b"GET /healthz HTTP/1.1\r\nhost: attn\r\n\r\n")
    try:
        return connection.recv(4096)
    except ConnectionResetError:
        return b""


def test_envoy_closes_connections_over_its_global_limit(replicas):
    with envoy_running(replicas, lambda c: shorten(c, connections=3)) as envoy:
        held = [socket.create_connection(("127.0.0.1", envoy.port), timeout=5) for _ in range(3)]
        try:
            for connection in held:
                assert http_healthz(connection).startswith(b"HTTP/1.1 200"), "a connection under the limit was refused"
            with socket.create_connection(("127.0.0.1", envoy.port), timeout=5) as one_too_many:
                assert http_healthz(one_too_many) == b"", "a connection over the global limit was served"
            # A limit, not a breakage: once one closes, a new connection is served again.
            held.pop().close()

            def served_again() -> bool:
                with socket.create_connection(("127.0.0.1", envoy.port), timeout=5) as again:
                    return http_healthz(again).startswith(b"HTTP/1.1 200")

            eventually(served_again, what="a connection under the limit again to be served")
        finally:
            for connection in held:
                connection.close()


# === A campus load balancer in front (deploy/README.md, "Trusted proxies") ===


def believed(forwarded_for: list[str], hops: int) -> str:
    """The entry attendance-service believes with ATTN_TRUSTED_PROXY_HOPS=hops."""
    return forwarded_for[-hops]


def test_behind_a_campus_load_balancer_the_chain_believes_the_balancers_entry(replicas):
    """The documented two-proxy chain: xff_num_trusted_hops: 1 on Envoy,
    ATTN_TRUSTED_PROXY_HOPS=2 on attendance-service. The test plays the
    balancer: the client forged 10.9.8.7, the balancer appended the address
    it saw, 192.0.2.10."""

    def behind_a_balancer(config: dict) -> None:
        connection_manager(config)["xff_num_trusted_hops"] = 1

    with envoy_running(replicas, behind_a_balancer) as envoy:
        hops = forwarded_for(envoy, **{"x-forwarded-for": "10.9.8.7, 192.0.2.10"})
        assert hops[:2] == ["10.9.8.7", "192.0.2.10"] and len(hops) == 3, hops
        assert believed(hops, 2) == "192.0.2.10"
        # Envoy's own idea of the client, which its per-address rate limit
        # uses, is the balancer's entry as well: spend 192.0.2.10's bucket...
        burst = per_address_burst(yaml.safe_load(ENVOY_YAML.read_text()))
        for _ in range(2 * burst + 100):
            _, headers, _ = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""),
                                 grpc_web_headers(**{"x-forwarded-for": "192.0.2.10"}))
            if headers.get("grpc-status", "0") != "0":
                break
        assert headers.get("grpc-status") == "8", headers
        # ...and another client behind the same balancer is still served.
        _, headers, body = post(envoy, "/attn.v1.AuthService/WhoAmI", grpc_web_frame(b""),
                                grpc_web_headers(**{"x-forwarded-for": "192.0.2.11"}))
        assert parse_grpc_web(body)[1].get("grpc-status") == "0", headers
