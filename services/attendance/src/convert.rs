//! Domain values to their `attn.v1` messages.

use attn_domain::{FailCode, Record, RecordStatus, Role, SessionMeta, SessionState};
use attn_proto::v1 as pb;
use attn_store::tokens::SignIn;
use prost_types::Timestamp;

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Milliseconds since the epoch; out-of-range timestamps saturate.
pub fn millis(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1000).saturating_add(i64::from(ts.nanos) / 1_000_000)
}

pub fn role(role: Role) -> i32 {
    match role {
        Role::Teacher => pb::Role::Teacher as i32,
        Role::Student => pb::Role::Student as i32,
        Role::Admin => pb::Role::Admin as i32,
    }
}

pub fn user(sign_in: &SignIn) -> pb::User {
    pb::User {
        school_number: sign_in.school_number.clone(),
        full_name: sign_in.full_name.clone(),
        role: role(sign_in.role),
        photo_url: sign_in.photo_url.clone().unwrap_or_default(),
    }
}

/// Where a session is: `archived` when it came from PostgreSQL.
/// `record_count`: `None` where the caller did not count the records.
// The deprecated booleans are still filled in, here only, from the state.
#[allow(deprecated)]
pub fn attendance(meta: &SessionMeta, now_ms: i64, archived: bool, record_count: Option<u64>) -> pb::Attendance {
    let state = meta.state(now_ms, archived);
    pb::Attendance {
        attendance_id: meta.attendance_id.to_string(),
        lesson_name: meta.lesson_name.clone(),
        teacher_school_number: meta.teacher_school_number.clone(),
        teacher_full_name: meta.teacher_full_name.clone(),
        start_time: Some(timestamp(meta.start_ms)),
        end_time: Some(timestamp(meta.end_ms)),
        security_option: meta.security_option.number(),
        networks: meta.networks.iter().map(ToString::to_string).collect(),
        is_active: state == SessionState::Open,
        is_archived: archived,
        is_deleted: state == SessionState::Deleted,
        deletion_reason: meta.deletion_reason.clone().unwrap_or_default(),
        deletion_time: meta.deletion_time_ms.map(timestamp),
        record_count: record_count.map(|count| u32::try_from(count).unwrap_or(u32::MAX)),
        state: attendance_state(state) as i32,
        require_check_in_code: meta.check_in_code_period_secs.is_some(),
        check_in_code_period: meta
            .check_in_code_period_secs
            .map(|secs| prost_types::Duration { seconds: i64::from(secs), nanos: 0 }),
        course_code: meta.course_code.clone().unwrap_or_default(),
        allow_walk_ins: meta.allow_walk_ins,
    }
}

fn attendance_state(state: SessionState) -> pb::AttendanceState {
    match state {
        SessionState::Open => pb::AttendanceState::Open,
        SessionState::Ended => pb::AttendanceState::Ended,
        SessionState::Archived => pb::AttendanceState::Archived,
        SessionState::Deleted => pb::AttendanceState::Deleted,
    }
}

/// A session as a student sees it: without its networks, which would tell
/// the student which address to claim, and without a roster count.
pub fn attendance_for_student(meta: &SessionMeta, now_ms: i64, archived: bool) -> pb::Attendance {
    pb::Attendance { networks: Vec::new(), ..attendance(meta, now_ms, archived, None) }
}

pub fn record(attendance_id: uuid::Uuid, record: &Record) -> pb::AttendanceRecord {
    pb::AttendanceRecord {
        attendance_id: attendance_id.to_string(),
        student_number: record.student_number.clone(),
        student_full_name: record.student_full_name.clone(),
        is_attended: record.is_attended,
        attendance_time: record.attendance_time_ms.map(timestamp),
        fail_reason: record.fail_reason.clone().unwrap_or_default(),
        is_deleted: record.is_deleted,
        deletion_reason: record.deletion_reason.clone().unwrap_or_default(),
        deletion_time: record.deletion_time_ms.map(timestamp),
        status: status(record.status()) as i32,
        fail_code: record.fail_code.map_or(pb::FailCode::Unspecified, fail_code) as i32,
    }
}

fn fail_code(code: FailCode) -> pb::FailCode {
    match code {
        FailCode::WifiFailed => pb::FailCode::WifiFailed,
        FailCode::WifiRequiredButIpMissing => pb::FailCode::WifiRequiredButIpMissing,
        FailCode::FaceVerificationRequiredButImagesMissing => pb::FailCode::FaceVerificationRequiredButImagesMissing,
        FailCode::FaceVerificationSubmissionFailed => pb::FailCode::FaceVerificationSubmissionFailed,
        FailCode::ReferenceImageNotFound => pb::FailCode::ReferenceImageNotFound,
        FailCode::FaceVerificationFailed => pb::FailCode::FaceVerificationFailed,
        FailCode::FaceVerificationTimedOut => pb::FailCode::FaceVerificationTimedOut,
        FailCode::TeacherDecision => pb::FailCode::TeacherDecision,
        FailCode::CheckInCodeInvalid => pb::FailCode::CheckInCodeInvalid,
    }
}

fn status(status: RecordStatus) -> pb::RecordStatus {
    match status {
        RecordStatus::Attended => pb::RecordStatus::Attended,
        RecordStatus::Pending => pb::RecordStatus::Pending,
        RecordStatus::Failed => pb::RecordStatus::Failed,
        RecordStatus::Deleted => pb::RecordStatus::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_1970() {
        for ms in [0, 1, 999, 1_780_000_000_123, -1, -1001] {
            assert_eq!(millis(&timestamp(ms)), ms);
        }
    }

    #[test]
    fn a_record_carries_its_derived_status() {
        let id = uuid::Uuid::nil();
        let pending = record(id, &Record::pending_face_check("s1", "Ada", "job-1"));
        assert_eq!(pending.status, pb::RecordStatus::Pending as i32);
        assert_eq!(pending.fail_reason, "FACE_RECOGNITION_PENDING");
        assert_eq!(pending.fail_code(), pb::FailCode::Unspecified, "pending is a status, not a failure");
        let attended = record(id, &Record::attended("s1", "Ada", 5));
        assert_eq!(attended.status, pb::RecordStatus::Attended as i32);
        assert_eq!(attended.attendance_time, Some(timestamp(5)));
    }

    #[test]
    fn every_fail_code_has_the_same_name_in_the_api() {
        for code in FailCode::ALL {
            assert_eq!(fail_code(code).as_str_name(), format!("FAIL_CODE_{}", code.as_str()));
        }
    }

    #[test]
    fn every_state_has_the_same_name_in_the_api_and_the_booleans_follow_it() {
        let meta = SessionMeta {
            attendance_id: uuid::Uuid::nil(),
            lesson_name: "Algebra".into(),
            teacher_school_number: "t1".into(),
            teacher_full_name: "Grace".into(),
            start_ms: 0,
            end_ms: 10,
            security_option: attn_domain::SecurityOption::Manual,
            networks: Vec::new(),
            is_deleted: false,
            deletion_reason: None,
            deletion_time_ms: None,
            check_in_code_period_secs: None,
            course_code: None,
            allow_walk_ins: false,
        };
        let open = attendance(&meta, 5, false, Some(3));
        assert_eq!(open.state(), pb::AttendanceState::Open);
        assert_eq!(open.record_count, Some(3));
        #[allow(deprecated)]
        {
            assert!(open.is_active && !open.is_archived && !open.is_deleted);
        }
        assert_eq!(attendance(&meta, 10, false, None).state(), pb::AttendanceState::Ended);
        assert_eq!(attendance(&meta, 5, true, None).state(), pb::AttendanceState::Archived);
        let deleted = attendance(&meta.deleted("oops", 5), 5, true, None);
        assert_eq!(deleted.state(), pb::AttendanceState::Deleted);
        #[allow(deprecated)]
        {
            assert!(deleted.is_deleted && deleted.is_archived && !deleted.is_active);
        }
        assert_eq!(attendance_for_student(&meta, 5, false).record_count, None, "a student's view is not counted");
    }
}
