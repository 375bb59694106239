"""The operators' grpcurl walkthroughs, run with the real grpcurl through reflection (no .proto files).

The commands are deploy/local/grpcurl-walkthrough.sh's, one per line, fed to
one bash in order (in a scratch directory: it writes selfie.jpg and
roster.csv); the transcript (each command, then what it printed) is written
to tests/artifacts/grpcurl-walkthrough.txt and every step is checked. The
README shows every line.
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
README = ROOT / "README.md"
TRANSCRIPT = ROOT / "tests/artifacts/grpcurl-walkthrough.txt"


def walkthrough_commands() -> list[str]:
    """The script's commands: every line after the API/SWEEPER/STANDIN/BIN defaults that is not a comment."""
    lines = WALKTHROUGH.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("BIN=")) + 1
    return [line for line in lines[start:] if line.strip() and not line.lstrip().startswith("#")]


def run_walkthrough(stack, cwd: Path) -> list[tuple[str, int, str]]:
    """Runs the commands in one bash, in order; returns (command, exit status, output) for each."""
    script = ["set -o pipefail"]
    for i, command in enumerate(walkthrough_commands()):
        script.append(f"printf '\\n@@@ begin {i}\\n'")
        script.append(command)
        script.append(f"printf '\\n@@@ end {i} %s\\n' $?")
    env = dict(os.environ, API=stack.api, SWEEPER=stack.sweeper, STANDIN=stack.standin,
               BIN=str(ROOT / "target/debug"), ATTN_DATABASE_URL=stack.database_url, ATTN_LOG="warn")
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=240,
        check=False,
    )
    out = result.stdout + result.stderr
    steps = []
    for i, command in enumerate(walkthrough_commands()):
        match = re.search(rf"@@@ begin {i}\n(.*?)\n@@@ end {i} (\d+)\n", result.stdout, re.S)
        assert match, f"step {i} ({command}) did not run; output:\n{out}"
        steps.append((command, int(match.group(2)), match.group(1).strip()))
    return steps


@pytest.fixture(scope="module")
def transcript(stack, tmp_path_factory):
    assert shutil.which("grpcurl"), "grpcurl is not on PATH (run.sh puts tests/clients/.venv/bin there)"
    assert shutil.which("jq"), "jq is not installed (run.sh installs it with apt-get)"
    assert shutil.which("curl"), "curl is not installed (run.sh installs it with apt-get)"
    version = subprocess.run(["grpcurl", "-version"], capture_output=True, text=True, check=True)
    steps = run_walkthrough(stack, tmp_path_factory.mktemp("walkthrough"))
    TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
    with TRANSCRIPT.open("w") as f:
        f.write(f"# {(version.stdout + version.stderr).strip()}; API={stack.api} SWEEPER={stack.sweeper} "
                f"STANDIN={stack.standin}\n")
        for command, status, output in steps:
            f.write(f"\n$ {command}\n")
            if output:
                f.write(output + "\n")
            if status:
                f.write(f"(exit status {status})\n")
    print(f"grpcurl walkthrough transcript: {TRANSCRIPT}")
    return steps


def step(transcript, key: str, nth: int = 0) -> str:
    """The output of the nth command containing `key`, which must have succeeded."""
    matches = [s for s in transcript if key in s[0]]
    assert len(matches) > nth, f"no step like {key!r} (#{nth})"
    command, status, output = matches[nth]
    assert status == 0, f"{command}\nexited {status}:\n{output}"
    return output


def only(transcript, *keys: str) -> tuple[str, int, str]:
    """The one step whose command contains every key."""
    matches = [s for s in transcript if all(key in s[0] for key in keys)]
    assert len(matches) == 1, f"{len(matches)} steps with {keys!r}"
    return matches[0]


def refused(transcript, key: str) -> str:
    """The output of the one command containing `key`, a call the walkthrough expects refused (`2>&1 || true`)."""
    matches = [s for s in transcript if key in s[0]]
    assert len(matches) == 1, f"{len(matches)} steps like {key!r}"
    return matches[0][2]


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
    output = refused(transcript, "walkthrough-again-")
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


def test_the_readme_shows_every_walkthrough_line_exactly_as_tested():
    text = README.read_text()
    missing = [command for command in walkthrough_commands() if command not in text]
    assert not missing, f"README.md lacks these walkthrough lines (copy them from {WALKTHROUGH}):\n" + "\n".join(missing)


def test_option_3_a_demo_students_selfie_is_matched_against_the_stand_ins_photo(transcript):
    step(transcript, "FACE_SESSION=$(")
    step(transcript, "curl -sf")
    first = json.loads(step(transcript, "face-$FACE_SESSION"))["record"]
    assert first["studentNumber"] == "demo_student_2" and first["status"] == "RECORD_STATUS_PENDING", first
    # WatchMyRecord streams the record until it is final: one JSON object per change.
    raw = step(transcript, "StudentService/WatchMyRecord")
    seen = [json.loads(chunk) for chunk in re.split(r"(?<=\})\s*\n(?=\{)", raw)]
    final = seen[-1]["record"]
    assert final["status"] == "RECORD_STATUS_ATTENDED", seen
    assert "REFERENCE_IMAGE_NOT_FOUND" not in raw, raw


def test_a_rotating_code_is_read_from_the_projector_stream_and_attends(transcript):
    step(transcript, "CODE_SESSION=$(")
    step(transcript, "CODE=$(")
    wrong = json.loads(step(transcript, "code-$CODE_SESSION"))["record"]
    assert wrong["status"] == "RECORD_STATUS_FAILED", wrong
    assert wrong["failCode"] == "FAIL_CODE_CHECK_IN_CODE_INVALID", wrong
    right = json.loads(step(transcript, "code-again-$CODE_SESSION"))["record"]
    assert right["status"] == "RECORD_STATUS_ATTENDED", right


def test_a_course_roster_is_imported_and_its_session_lists_every_enrolled_student(transcript):
    imported = step(transcript, "import-roster roster.csv")
    assert "imported 3 users (1 teachers, 2 students, 0 admins); 0 rows rejected" in imported, imported
    courses = json.loads(step(transcript, "TeacherService/ListCourses"))["courses"]
    assert [(c["courseCode"], c["enrolledCount"]) for c in courses] == [("CS101", 2)], courses
    attended = json.loads(step(transcript, "Bearer $S1"))["record"]
    assert attended["studentNumber"] == "s1" and attended["status"] == "RECORD_STATUS_ATTENDED", attended
    outsider = only(transcript, "Bearer $STUDENT", "$COURSE_SESSION", "|| true")[2]
    assert "Code: FailedPrecondition" in outsider and '"reason":"NOT_ENROLLED"' in outsider.replace(" ", ""), outsider
    _, status, listed = only(transcript, "$COURSE_SESSION", "TeacherService/ListRecords")
    assert status == 0, listed
    roster = json.loads(listed)
    assert roster["attendance"]["timeZone"] == "Europe/Istanbul", roster
    assert [(r["studentNumber"], r["status"]) for r in roster["records"]] == [
        ("s1", "RECORD_STATUS_ATTENDED"),
        ("s2", "RECORD_STATUS_NOT_CHECKED_IN"),
    ], roster
    excused = json.loads(step(transcript, "TeacherService/ExcuseStudent"))["record"]
    assert excused["status"] == "RECORD_STATUS_EXCUSED" and excused["excuseReason"] == "doctor's note", excused


def test_the_course_report_and_register_read_the_archive(transcript):
    step(transcript, "SweeperService/RunJob")
    report = json.loads(step(transcript, "TeacherService/GetCourseReport"))
    rows = {r["studentNumber"]: r for r in report["rows"]}
    assert report["totalSessions"] == 1, report
    assert rows["s1"].get("attended") == 1 and rows["s2"].get("excused") == 1, report
    register = step(transcript, "per_session").splitlines()
    assert register[0].startswith("student_number,student_full_name,attendance_id,lesson_name,local_date"), register
    assert len(register) == 3 and ",EXCUSED," in register[2] and "doctor's note" in register[2], register
