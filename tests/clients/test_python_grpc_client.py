"""A second gRPC stack: Python's grpcio (gRPC C-core, whose wire behaviour the
mobile stacks share) with code generated from proto/ at test time, against
the real attendance-service."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import duration_pb2

from conftest import unique


@pytest.fixture(scope="module")
def channel(stack):
    with grpc.insecure_channel(stack.api) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


def login(pb, channel, username: str) -> list[tuple[str, str]]:
    reply = pb.auth_grpc.AuthServiceStub(channel).Login(
        pb.auth.LoginRequest(username=username, password="password"), timeout=10
    )
    assert reply.access_token and reply.user.school_number == username
    return [("authorization", f"Bearer {reply.access_token}")]


def test_a_student_signs_in_finds_a_session_attends_and_reads_the_record(pb, channel):
    lesson = unique("Python client")
    teacher = login(pb, channel, "demo_teacher_3")
    teachers = pb.teacher_grpc.TeacherServiceStub(channel)
    started = teachers.StartAttendance(
        pb.teacher.StartAttendanceRequest(
            lesson_name=lesson,
            duration=duration_pb2.Duration(seconds=1800),
            security_option=pb.common.SECURITY_OPTION_MANUAL,
        ),
        metadata=teacher,
        timeout=10,
    )
    session_id = started.attendance.attendance_id
    # One state enum; record_count is proto3 optional: present (0) where counted.
    assert started.attendance.state == pb.common.ATTENDANCE_STATE_OPEN, started
    assert started.attendance.HasField("record_count") and started.attendance.record_count == 0, started

    student = login(pb, channel, "demo_student_42")
    students = pb.student_grpc.StudentServiceStub(channel)
    found = students.FindActiveAttendances(
        pb.student.FindActiveAttendancesRequest(lesson_name=lesson, teacher_name="Demo Teacher 3"),
        metadata=student,
        timeout=10,
    )
    assert [a.attendance_id for a in found.attendances] == [session_id]
    assert not found.attendances[0].HasField("record_count"), "search results are not counted"

    request_id = str(uuid.uuid4())
    attend = pb.student.AttendRequest(attendance_id=session_id, request_id=request_id)
    record = students.Attend(attend, metadata=student, timeout=10).record
    assert record.student_number == "demo_student_42" and record.is_attended
    assert record.fail_code == pb.common.FAIL_CODE_UNSPECIFIED and record.status == pb.common.RECORD_STATUS_ATTENDED

    # The same request_id again: the first answer, not a second check-in.
    again = students.Attend(attend, metadata=student, timeout=10).record
    assert again == record
    # A new attempt: ALREADY_EXISTS, in plain English.
    with pytest.raises(grpc.RpcError) as refused:
        students.Attend(
            pb.student.AttendRequest(attendance_id=session_id, request_id=str(uuid.uuid4())),
            metadata=student,
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS, refused.value
    assert refused.value.details()

    mine = students.GetMyRecord(pb.student.GetMyRecordRequest(attendance_id=session_id), metadata=student, timeout=10)
    assert mine.record.is_attended and mine.record.student_number == "demo_student_42"

    # A server stream: the record now, then the end (it is final).
    watched = list(
        students.WatchMyRecord(pb.student.WatchMyRecordRequest(attendance_id=session_id), metadata=student, timeout=10)
    )
    assert [w.record.is_attended for w in watched] == [True]

    roster = teachers.ListRecords(pb.teacher.ListRecordsRequest(attendance_id=session_id), metadata=teacher, timeout=10)
    assert [r.student_number for r in roster.records] == ["demo_student_42"]
    assert roster.attendance.HasField("record_count") and roster.attendance.record_count == 1, roster.attendance

    # A teacher's words are TEACHER_DECISION, even when they look like a code.
    failed = teachers.FailStudent(
        pb.teacher.FailStudentRequest(attendance_id=session_id, student_number="demo_student_42", reason="WIFI_FAILED: spoof"),
        metadata=teacher,
        timeout=10,
    ).record
    assert failed.fail_code == pb.common.FAIL_CODE_TEACHER_DECISION and failed.fail_reason == "WIFI_FAILED: spoof", failed
    assert failed.status == pb.common.RECORD_STATUS_FAILED

    finished = teachers.FinishAttendance(
        pb.teacher.FinishAttendanceRequest(attendance_id=session_id), metadata=teacher, timeout=10
    )
    assert finished.attendance.state == pb.common.ATTENDANCE_STATE_ENDED, finished


def test_errors_arrive_as_status_codes_with_plain_messages(pb, channel):
    students = pb.student_grpc.StudentServiceStub(channel)
    with pytest.raises(grpc.RpcError) as no_token:
        students.ListMyAttendance(pb.student.ListMyAttendanceRequest(), timeout=10)
    assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "sign in" in no_token.value.details()

    teacher = login(pb, channel, "demo_teacher_4")
    with pytest.raises(grpc.RpcError) as wrong_role:
        students.ListMyAttendance(pb.student.ListMyAttendanceRequest(), metadata=teacher, timeout=10)
    assert wrong_role.value.code() == grpc.StatusCode.PERMISSION_DENIED

    student = login(pb, channel, "demo_student_43")
    with pytest.raises(grpc.RpcError) as unknown:
        students.Attend(
            pb.student.AttendRequest(attendance_id=str(uuid.uuid4()), request_id="python-unknown"),
            metadata=student,
            timeout=10,
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
