"""What browsers get from attendance-service directly (no Envoy): the app's
files, CORS for grpc-web from other origins, and a clear status for
requests over the size limit. Sent as a browser sends them, over HTTP/1.1."""

from __future__ import annotations

import re

import pytest

from conftest import grpc_web_call, http_request

OUT_OF_RANGE = 11
OTHER_ORIGIN = "http://evil.example"
GRPC_WEB_HEADERS = ["content-type", "x-grpc-web", "x-user-agent", "authorization", "grpc-timeout"]
EXPOSED = ["grpc-status", "grpc-message", "grpc-status-details-bin"]


def preflight(stack, origin: str):
    return http_request(
        stack.api,
        "OPTIONS",
        "/attn.v1.AuthService/Login",
        {
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": ",".join(GRPC_WEB_HEADERS),
        },
    )


def split(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def test_the_browser_app_is_served_on_the_api_port(stack):
    status, headers, body = http_request(stack.api, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html"), (status, headers)
    page = body.decode()
    script = re.search(r'src="\.?/?(assets/[^"]+\.js)"', page)
    assert script, page
    status, headers, _ = http_request(stack.api, "GET", "/" + script.group(1))
    assert status == 200 and "javascript" in headers["content-type"], (status, headers)
    status, _, _ = http_request(stack.api, "GET", "/no-such-file.js")
    assert status == 404


def test_a_preflight_from_an_allowed_origin_is_granted(stack):
    status, headers, _ = preflight(stack, stack.allowed_origin)
    assert status == 200
    assert headers.get("access-control-allow-origin") == stack.allowed_origin, headers
    assert set(GRPC_WEB_HEADERS) <= split(headers.get("access-control-allow-headers")), headers
    assert "post" in split(headers.get("access-control-allow-methods")), headers
    assert "access-control-allow-credentials" not in headers


def test_a_preflight_from_another_origin_is_not_granted(stack):
    status, headers, _ = preflight(stack, OTHER_ORIGIN)
    assert "access-control-allow-origin" not in headers, (status, headers)


def test_grpc_web_answers_let_allowed_pages_read_the_grpc_status(stack, pb):
    login = pb.auth.LoginRequest(username="demo_student_7", password="password").SerializeToString()
    allowed = grpc_web_call(stack.api, "/attn.v1.AuthService/Login", login, origin=stack.allowed_origin)
    assert allowed.grpc_status == 0, allowed
    assert pb.auth.LoginResponse.FromString(allowed.messages[0]).user.school_number == "demo_student_7"
    assert allowed.headers.get("access-control-allow-origin") == stack.allowed_origin
    assert set(EXPOSED) <= split(allowed.headers.get("access-control-expose-headers")), allowed.headers

    # The server still answers another origin (CORS is the browser's rule), but grants it nothing.
    other = grpc_web_call(stack.api, "/attn.v1.AuthService/Login", login, origin=OTHER_ORIGIN)
    assert "access-control-allow-origin" not in other.headers, other.headers


@pytest.fixture(scope="module")
def student_token(stack, pb):
    login = pb.auth.LoginRequest(username="demo_student_8", password="password").SerializeToString()
    reply = grpc_web_call(stack.api, "/attn.v1.AuthService/Login", login)
    assert reply.grpc_status == 0, reply
    return pb.auth.LoginResponse.FromString(reply.messages[0]).access_token


def test_a_check_in_over_the_size_limit_gets_out_of_range(stack, pb, student_token):
    """Attend reads up to 8 MiB + 64 KiB (so an oversized selfie up to there is
    refused by name); past that, tonic refuses the message unread: OUT_OF_RANGE."""
    attend = pb.student.AttendRequest(
        attendance_id="00000000-0000-0000-0000-000000000000", request_id="too-big", selfie=b"\xff" * (9 * 1024 * 1024)
    ).SerializeToString()
    reply = grpc_web_call(
        stack.api, "/attn.v1.StudentService/Attend", attend, token=student_token, origin=stack.allowed_origin
    )
    assert reply.grpc_status == OUT_OF_RANGE, reply
    assert "message length too large" in reply.grpc_message, reply.grpc_message
    # A page on an allowed origin can read that status.
    assert reply.headers.get("access-control-allow-origin") == stack.allowed_origin


def test_any_call_over_the_size_limit_gets_out_of_range(stack, pb):
    """Other calls keep tonic's default 4 MiB limit."""
    login = pb.auth.LoginRequest(username="demo_student_9", password="x" * (5 * 1024 * 1024)).SerializeToString()
    reply = grpc_web_call(stack.api, "/attn.v1.AuthService/Login", login)
    assert reply.grpc_status == OUT_OF_RANGE, reply
    assert "the limit is: 4194304 bytes" in reply.grpc_message, reply.grpc_message
