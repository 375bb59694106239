"""The operators' grpcurl walkthrough, run with the real grpcurl through reflection (no .proto files).

The commands are deploy/local/grpcurl-walkthrough.sh's, one per line, fed to
one bash in order; the transcript (each command, then what it printed) is
written to tests/artifacts/grpcurl-walkthrough.txt and every step is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

WALKTHROUGH = ROOT / "deploy/local/grpcurl-walkthrough.sh"
READMES = [ROOT / "README.md", ROOT / "deploy/local/README.md"]
TRANSCRIPT = ROOT / "tests/artifacts/grpcurl-walkthrough.txt"


def walkthrough_commands() -> list[str]:
    """The script's commands: every line after the API/SWEEPER defaults that is not a comment."""
    lines = WALKTHROUGH.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("SWEEPER=")) + 1
    return [line for line in lines[start:] if line.strip() and not line.lstrip().startswith("#")]


def run_walkthrough(api: str, sweeper: str) -> list[tuple[str, int, str]]:
    """Runs the commands in one bash, in order; returns (command, exit status, output) for each."""
    script = ["set -o pipefail"]
    for i, command in enumerate(walkthrough_commands()):
        script.append(f"printf '\\n@@@ begin {i}\\n'")
        script.append(command)
        script.append(f"printf '\\n@@@ end {i} %s\\n' $?")
    env = dict(os.environ, API=api, SWEEPER=sweeper)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    out = result.stdout + result.stderr
    steps = []
    for i, command in enumerate(walkthrough_commands()):
        match = re.search(rf"@@@ begin {i}\n(.*?)\n@@@ end {i} (\d+)\n", result.stdout, re.S)
        assert match, f"step {i} ({command}) did not run; output:\n{out}"
        steps.append((command, int(match.group(2)), match.group(1).strip()))
    return steps


@pytest.fixture(scope="module")
def transcript(stack):
    assert shutil.which("grpcurl"), "grpcurl is not on PATH (run.sh puts tests/clients/.venv/bin there)"
    assert shutil.which("jq"), "jq is not installed (run.sh installs it with apt-get)"
    version = subprocess.run(["grpcurl", "-version"], capture_output=True, text=True, check=True)
    steps = run_walkthrough(stack.api, stack.sweeper)
    TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
    with TRANSCRIPT.open("w") as f:
        f.write(f"# {(version.stdout + version.stderr).strip()}; API={stack.api} SWEEPER={stack.sweeper}\n")
        for command, status, output in steps:
            f.write(f"\n$ {command}\n")
            if output:
                f.write(output + "\n")
            if status:
                f.write(f"(exit status {status})\n")
    print(f"grpcurl walkthrough transcript: {TRANSCRIPT}")
    return steps


def step(transcript, key: str) -> str:
    """The output of the first command containing `key`, which must have succeeded."""
    matches = [s for s in transcript if key in s[0]]
    assert matches, f"no step like {key!r}"
    command, status, output = matches[0]
    assert status == 0, f"{command}\nexited {status}:\n{output}"
    return output


def test_list_names_the_public_services_and_health(transcript):
    services = set(step(transcript, "grpcurl -plaintext $API list").split())
    for name in (
        "attn.v1.AuthService",
        "attn.v1.TeacherService",
        "attn.v1.StudentService",
        "grpc.health.v1.Health",
    ):
        assert name in services, services
    assert not [name for name in services if name.startswith("attn.internal.")], services


def test_describe_shows_a_method_and_its_request(transcript):
    method = step(transcript, "describe attn.v1.TeacherService.StartAttendance")
    assert "rpc StartAttendance ( .attn.v1.StartAttendanceRequest ) returns ( .attn.v1.StartAttendanceResponse )" in method
    request = step(transcript, "describe attn.v1.StartAttendanceRequest")
    assert "string lesson_name = 1;" in request and "google.protobuf.Duration duration = 3;" in request


def test_a_teacher_signs_in_and_starts_a_session(transcript):
    step(transcript, "TEACHER=$(")
    who = json.loads(step(transcript, "AuthService/WhoAmI"))
    assert who["user"]["schoolNumber"] == "demo_teacher_1" and who["user"]["role"] == "ROLE_TEACHER", who
    started = json.loads(step(transcript, "TeacherService/StartAttendance"))
    assert started["attendance"]["lessonName"] == "Physics 101", started
    assert started["attendance"]["securityOption"] == "SECURITY_OPTION_MANUAL", started
    assert started["attendance"]["state"] == "ATTENDANCE_STATE_OPEN", started


def test_a_student_finds_the_session_and_attends(transcript):
    step(transcript, "STUDENT=$(")
    step(transcript, "SESSION=$(")
    record = json.loads(step(transcript, "StudentService/Attend"))["record"]
    assert record["studentNumber"] == "demo_student_1" and record["isAttended"] is True, record
    # Not failed: no fail code (UNSPECIFIED, the default, is left out of the JSON).
    assert record["status"] == "RECORD_STATUS_ATTENDED" and "failCode" not in record, record


def test_attending_again_is_refused_with_its_reason_decoded(transcript):
    # A new request_id, so not a replay: ALREADY_EXISTS, and grpcurl decodes
    # the google.rpc.ErrorInfo (the services' reflection serves its type).
    matches = [s for s in transcript if "walkthrough-again-" in s[0]]
    assert matches, "no second Attend step"
    _, _, output = matches[0]
    assert "Code: AlreadyExists" in output, output
    assert '"@type":"type.googleapis.com/google.rpc.ErrorInfo"' in output.replace(" ", ""), output
    assert '"reason":"ALREADY_CHECKED_IN"' in output.replace(" ", ""), output
    assert "not recognized" not in output, output


def test_the_teacher_lists_the_records(transcript):
    listed = json.loads(step(transcript, "TeacherService/ListRecords"))
    assert [r["studentNumber"] for r in listed["records"]] == ["demo_student_1"], listed
    assert listed["attendance"]["lessonName"] == "Physics 101"
    assert listed["attendance"]["recordCount"] == 1, listed


def test_an_operator_lists_the_sweeper_jobs(transcript):
    step(transcript, "ADMIN=$(")
    jobs = json.loads(step(transcript, "SweeperService/ListJobs"))
    names = {job["name"] for job in jobs["jobs"]}
    assert {"sweep_attendances", "sweep_users", "check_face_verification_results"} <= names, jobs


def test_health_is_serving_on_both_ports(transcript):
    checks = [s for s in transcript if "Health/Check" in s[0]]
    assert len(checks) == 2
    for command, status, output in checks:
        assert status == 0 and json.loads(output) == {"status": "SERVING"}, (command, output)


def test_the_session_is_finished_so_the_walkthrough_can_run_again(transcript):
    finished = json.loads(step(transcript, "TeacherService/FinishAttendance"))
    assert finished["attendance"]["state"] == "ATTENDANCE_STATE_ENDED", finished


def test_grpcurl_used_v1alpha_reflection(transcript, stack):
    """grpcurl 1.8.6 speaks only grpc.reflection.v1alpha; the services serve it beside v1."""
    log = stack.log("attendance-service")
    assert "grpc.reflection.v1alpha.ServerReflection" in log, "no v1alpha reflection call in the attendance log"
    assert not re.search(r"grpc\.reflection\.v1\.ServerReflection", log), "grpcurl 1.8.6 should not know v1"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_readmes_show_the_walkthrough_exactly_as_tested(readme):
    text = readme.read_text()
    missing = [command for command in walkthrough_commands() if command not in text]
    where = readme.relative_to(ROOT)
    assert not missing, f"{where} lacks these walkthrough lines (copy them from {WALKTHROUGH}):\n" + "\n".join(missing)
