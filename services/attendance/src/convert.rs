//! Domain values to their `attn.v1` messages.

use attn_domain::{AuditEntry, FailCode, Record, RecordStatus, Role, SessionMeta, SessionState};
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
        time_zone: attn_domain::time_zone::name(meta.time_zone.as_deref()).to_owned(),
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
    roster_line(attendance_id, record, false)
}

/// A line of a roster: a record, or an enrolled student's missing check-in,
/// which is NOT_CHECKED_IN while the session is open and ABSENT once it has
/// ended.
pub fn roster_line(attendance_id: uuid::Uuid, record: &Record, session_ended: bool) -> pb::AttendanceRecord {
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
        status: status(record.roster_status(session_ended)) as i32,
        fail_code: record.fail_code.map_or(pb::FailCode::Unspecified, fail_code) as i32,
        excuse_reason: record.excuse_reason.clone().unwrap_or_default(),
    }
}

/// An audit entry as the API shows it. The stored before/after values are
/// JSON snapshots of the record or session; they are read back into the
/// domain types and shown as the API's messages (the session's `state` as
/// it was at the entry's time), never passed through as raw JSON.
pub fn audit_event(attendance_id: uuid::Uuid, entry: &AuditEntry) -> pb::AuditEvent {
    let change = match entry.student_number {
        Some(_) => audit_record_change(attendance_id, entry).map(pb::audit_event::Change::Record),
        None => audit_session_change(entry).map(pb::audit_event::Change::Attendance),
    };
    if change.is_none() {
        tracing::warn!(%attendance_id, action = %entry.action, "an audit entry's values could not be read back");
    }
    pb::AuditEvent {
        actor: entry.actor.clone(),
        action: audit_action(&entry.action) as i32,
        time: Some(timestamp(entry.at_ms)),
        student_number: entry.student_number.clone().unwrap_or_default(),
        reason: entry.reason.clone().unwrap_or_default(),
        change,
    }
}

fn audit_record_change(attendance_id: uuid::Uuid, entry: &AuditEntry) -> Option<pb::RecordChange> {
    let (before, after) = entry.record_change()?;
    let shown = |record: Option<Record>| record.map(|record| self::record(attendance_id, &record));
    Some(pb::RecordChange { before: shown(before), after: shown(after) })
}

fn audit_session_change(entry: &AuditEntry) -> Option<pb::AttendanceChange> {
    let (before, after) = entry.session_change()?;
    let shown = |meta: Option<SessionMeta>| meta.map(|meta| attendance(&meta, entry.at_ms, false, None));
    Some(pb::AttendanceChange { before: shown(before), after: shown(after) })
}

/// The stored action names (see `AuditEntry::action`); any other is UNSPECIFIED.
pub fn audit_action(action: &str) -> pb::AuditAction {
    match action {
        "accept_student" => pb::AuditAction::AcceptStudent,
        "fail_student" => pb::AuditAction::FailStudent,
        "add_student" => pb::AuditAction::AddStudent,
        "delete_record" => pb::AuditAction::DeleteRecord,
        "finish_attendance" => pb::AuditAction::FinishAttendance,
        "delete_attendance" => pb::AuditAction::DeleteAttendance,
        "face_check_result" => pb::AuditAction::FaceCheckResult,
        "excuse_student" => pb::AuditAction::ExcuseStudent,
        _ => pb::AuditAction::Unspecified,
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
        RecordStatus::Excused => pb::RecordStatus::Excused,
        RecordStatus::NotCheckedIn => pb::RecordStatus::NotCheckedIn,
        RecordStatus::Absent => pb::RecordStatus::Absent,
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
            time_zone: None,
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

    fn audit(
        student: Option<&str>,
        old: Option<attn_domain::audit::JsonValue>,
        new: Option<attn_domain::audit::JsonValue>,
    ) -> AuditEntry {
        AuditEntry {
            actor: "t1".into(),
            action: "fail_student".into(),
            student_number: student.map(str::to_owned),
            old_value: old,
            new_value: new,
            reason: Some("left early".into()),
            at_ms: 5_000,
        }
    }

    #[test]
    fn every_action_the_services_write_has_its_own_api_value() {
        let written = [
            "accept_student",
            "fail_student",
            "add_student",
            "delete_record",
            "finish_attendance",
            "delete_attendance",
            "face_check_result",
        ];
        let values: std::collections::HashSet<i32> = written.iter().map(|a| audit_action(a) as i32).collect();
        assert_eq!(values.len(), written.len());
        assert!(!values.contains(&(pb::AuditAction::Unspecified as i32)));
        assert_eq!(audit_action("something_newer"), pb::AuditAction::Unspecified);
    }

    #[test]
    fn a_record_edit_shows_the_record_before_and_after() {
        let before = Record::attended("s1", "Ada", 1_000);
        let after = before.failed_by_teacher("left early");
        let entry = audit(
            Some("s1"),
            Some(attn_domain::audit::snapshot_of(&before)),
            Some(attn_domain::audit::snapshot_of(&after)),
        );
        let event = audit_event(uuid::Uuid::nil(), &entry);
        let Some(pb::audit_event::Change::Record(change)) = event.change else { panic!("{event:?}") };
        assert!(change.before.unwrap().is_attended);
        let after = change.after.unwrap();
        assert_eq!(
            (after.status, after.fail_code),
            (pb::RecordStatus::Failed as i32, pb::FailCode::TeacherDecision as i32)
        );
        assert_eq!((event.student_number.as_str(), event.reason.as_str()), ("s1", "left early"));
        assert_eq!(event.action, pb::AuditAction::FailStudent as i32);
    }

    #[test]
    fn an_added_record_has_nothing_before() {
        let after = Record::attended("s1", "Ada", 1_000);
        let entry = audit(Some("s1"), None, Some(attn_domain::audit::snapshot_of(&after)));
        let Some(pb::audit_event::Change::Record(change)) = audit_event(uuid::Uuid::nil(), &entry).change else {
            panic!()
        };
        assert!(change.before.is_none() && change.after.is_some());
    }

    #[test]
    fn values_that_are_not_what_the_entry_says_leave_the_change_out() {
        let not_a_record = attn_domain::audit::snapshot_of(&std::collections::BTreeMap::from([("lesson", 3)]));
        let entry = audit(Some("s1"), None, Some(not_a_record));
        let event = audit_event(uuid::Uuid::nil(), &entry);
        assert!(event.change.is_none(), "{event:?}");
        assert_eq!(event.student_number, "s1");
    }
}
