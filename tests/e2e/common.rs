//! Small helpers shared by the end-to-end tests.

use std::time::Duration;

use attn_e2e::{Clients, StudentClient, TeacherClient, TestEnv, bearer, eventually};
use attn_proto::v1::{
    self as pb, AttendRequest, AttendanceState, ListRecordsRequest, StartAttendanceRequest,
    start_attendance_request::Ends,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub fn minutes(n: i64) -> Option<Ends> {
    Some(Ends::Duration(prost_types::Duration { seconds: n * 60, nanos: 0 }))
}

/// A thirty-minute session's request, for tests to adjust.
pub fn start_request(lesson: &str, option: i32, networks: &[&str]) -> StartAttendanceRequest {
    StartAttendanceRequest {
        lesson_name: lesson.into(),
        ends: minutes(30),
        security_option: option,
        networks: networks.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

pub async fn start(
    teacher: &mut TeacherClient,
    lesson: &str,
    option: i32,
    networks: &[&str],
) -> Result<pb::Attendance, Status> {
    let response = teacher.start_attendance(start_request(lesson, option, networks)).await?;
    Ok(response.into_inner().attendance.expect("a started session"))
}

pub async fn attend(
    student: &mut StudentClient,
    attendance_id: &str,
    request_id: &str,
) -> Result<pb::AttendanceRecord, Status> {
    attend_with_selfie(student, attendance_id, request_id, Vec::new()).await
}

pub async fn attend_with_selfie(
    student: &mut StudentClient,
    attendance_id: &str,
    request_id: &str,
    selfie: Vec<u8>,
) -> Result<pb::AttendanceRecord, Status> {
    let response = student
        .attend(AttendRequest {
            attendance_id: attendance_id.into(),
            selfie,
            request_id: request_id.into(),
            ..Default::default()
        })
        .await?;
    Ok(response.into_inner().record.expect("a record"))
}

/// Signs in demo student `n` and returns a client whose every call carries
/// `x-forwarded-for: <forwarded_for>`, as a proxy in front of ATTN would add.
pub async fn student_forwarded_as(clients: &Clients, n: usize, forwarded_for: &str) -> StudentClient {
    let token = clients.login(&format!("demo_student_{n}"), "password").await.expect("demo student signs in");
    clients.student(bearer(&token).with("x-forwarded-for", forwarded_for))
}

pub async fn list_records(teacher: &mut TeacherClient, attendance_id: &str) -> pb::ListRecordsResponse {
    teacher
        .list_records(ListRecordsRequest { attendance_id: attendance_id.into() })
        .await
        .expect("the owner lists the records")
        .into_inner()
}

/// Finishes the session and has a sweeper archive it, as production would,
/// repeating rounds until the owner sees it archived.
pub async fn finish_and_archive(env: &TestEnv, owner: &TeacherClient, attendance_id: &str) {
    finish_and_archive_with(env, owner, attendance_id).await.shutdown.trigger();
}

/// As [`finish_and_archive`], and returns the sweeper that archived it, still running.
pub async fn finish_and_archive_with(
    env: &TestEnv,
    owner: &TeacherClient,
    attendance_id: &str,
) -> attn_e2e::SweeperReplica {
    let mut teacher = owner.clone();
    teacher
        .finish_attendance(pb::FinishAttendanceRequest { attendance_id: attendance_id.into() })
        .await
        .expect("the owner finishes the session");
    let sweeper = env.start_sweeper_with(|config| config.sweep_grace_secs = 0).await;
    eventually(Duration::from_secs(30), "the sweeper to archive the session", || {
        let jobs = sweeper.jobs.clone();
        let mut teacher = owner.clone();
        let id = attendance_id.to_owned();
        async move {
            let _ = jobs.run(sweeper_service::JobName::SweepAttendances).await;
            let listed = teacher.list_records(ListRecordsRequest { attendance_id: id }).await.ok()?;
            (listed.into_inner().attendance?.state() == AttendanceState::Archived).then_some(())
        }
    })
    .await;
    sweeper
}

/// Asserts a call failed with `code` and a message containing `needle`,
/// and that it says why as a program reads it: an `ErrorInfo` in ATTN's
/// domain whose reason comes with `code`.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, needle: &str) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?} ({needle}), got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "message: {}", status.message());
            assert!(status.message().contains(needle), "expected {needle:?} in {:?}", status.message());
            let reason = reason_of(&status);
            assert_eq!(reason.code(), code, "{reason} sent with {code:?}");
            status
        }
    }
}

/// The reason code of an error ATTN sent; fails the test if there is no
/// `ErrorInfo` in ATTN's domain.
#[track_caller]
pub fn reason_of(status: &Status) -> attn_runtime::Reason {
    let info = status.get_details_error_info().unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.domain, "attn.v1", "{info:?}");
    attn_runtime::Reason::parse(&info.reason).unwrap_or_else(|| panic!("{:?} is not one of ATTN's codes", info.reason))
}

/// Asserts a call failed with `reason` (and so its code) and a message
/// containing `needle`; gives back the status for more checks.
#[track_caller]
pub fn assert_reason<T: std::fmt::Debug>(
    result: Result<T, Status>,
    reason: attn_runtime::Reason,
    needle: &str,
) -> Status {
    let status = assert_status(result, reason.code(), needle);
    assert_eq!(reason_of(&status), reason, "message: {}", status.message());
    status
}

/// The fields a BadRequest detail names, in order.
#[track_caller]
pub fn bad_fields(status: &Status) -> Vec<String> {
    let bad = status.get_details_bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

/// Asserts a call was refused as bad input, with a message that starts by
/// naming `field` (e.g. "lesson_name: is required").
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    match result {
        Ok(value) => panic!("expected INVALID_ARGUMENT naming {field}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), Code::InvalidArgument, "message: {}", status.message());
            assert!(
                status.message().starts_with(&format!("{field}: ")),
                "expected the message to name {field:?}: {:?}",
                status.message()
            );
            assert_eq!(reason_of(&status), attn_runtime::Reason::InvalidArgument);
            assert_eq!(bad_fields(&status).first().map(String::as_str), Some(field), "{status:?}");
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("a sane clock")
}

pub const STREAM_WAIT: Duration = Duration::from_secs(10);

pub fn status_of(record: &pb::AttendanceRecord) -> pb::RecordStatus {
    pb::RecordStatus::try_from(record.status).expect("a known status")
}
