//! An attendance session as ATTN keeps it while it is live.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::SecurityOption;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub attendance_id: Uuid,
    pub lesson_name: String,
    pub teacher_school_number: String,
    pub teacher_full_name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub security_option: SecurityOption,
    /// The networks check-ins must come from (options 2 and 3).
    pub networks: Vec<IpNet>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_time_ms: Option<i64>,
    /// Check-ins need the rotating code (see `check_in_code`), which changes
    /// every this many seconds. The secret behind it is not part of the
    /// session's JSON, which is copied into indexes and events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in_code_period_secs: Option<u32>,
    /// The course the session was opened for (a normalised code; see
    /// `course`). Its enrolled students are kept with the live session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_code: Option<String>,
    /// With a course: students not enrolled may check in too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_walk_ins: bool,
    /// The IANA zone the session was opened in (see `time_zone`); `None`: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Where a session stands, in one value: what `attn.v1.AttendanceState` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Open for check-in.
    Open,
    /// Check-in closed (finished, or its end time passed); still live in Redis.
    Ended,
    /// Moved to the permanent archive (so also ended).
    Archived,
    /// Deleted by its teacher, whether still live or archived.
    Deleted,
}

impl SessionMeta {
    /// The one place a session's state is decided. Precedence: DELETED >
    /// ARCHIVED > ENDED > OPEN. A deleted session stays deleted when it is
    /// archived (the deletion is what a client must show); an archived
    /// session has always ended; deleting closes check-in, so a deleted
    /// session is never open. `archived`: the session was read from the
    /// archive rather than from Redis.
    pub fn state(&self, now_ms: i64, archived: bool) -> SessionState {
        if self.is_deleted {
            SessionState::Deleted
        } else if archived {
            SessionState::Archived
        } else if self.is_active(now_ms) {
            SessionState::Open
        } else {
            SessionState::Ended
        }
    }

    /// Open for check-in.
    pub fn is_active(&self, now_ms: i64) -> bool {
        !self.is_deleted && now_ms < self.end_ms
    }

    /// FinishAttendance: check-in closes now. Finishing an ended session
    /// leaves its end time alone.
    pub fn finished(&self, now_ms: i64) -> Self {
        let mut meta = self.clone();
        meta.end_ms = self.end_ms.min(now_ms);
        meta
    }

    /// DeleteAttendance (soft): also closes check-in.
    pub fn deleted(&self, reason: &str, now_ms: i64) -> Self {
        let mut meta = self.finished(now_ms);
        meta.is_deleted = true;
        meta.deletion_reason = Some(reason.to_owned());
        meta.deletion_time_ms = Some(now_ms);
        meta
    }

    /// Only students enrolled in the session's course may check in.
    pub fn enrolled_only(&self) -> bool {
        self.course_code.is_some() && !self.allow_walk_ins
    }

    pub fn is_owned_by(&self, teacher_school_number: &str) -> bool {
        self.teacher_school_number == teacher_school_number
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("session metadata always serialises")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SessionMeta {
        SessionMeta {
            attendance_id: Uuid::nil(),
            lesson_name: "Linear Algebra".into(),
            teacher_school_number: "t1".into(),
            teacher_full_name: "Grace Hopper".into(),
            start_ms: 1_000,
            end_ms: 10_000,
            security_option: SecurityOption::Network,
            networks: vec!["10.0.0.0/24".parse().unwrap()],
            is_deleted: false,
            deletion_reason: None,
            deletion_time_ms: None,
            check_in_code_period_secs: None,
            course_code: None,
            allow_walk_ins: false,
            time_zone: None,
        }
    }

    #[test]
    fn only_a_course_session_without_walk_ins_is_for_enrolled_students_only() {
        assert!(!meta().enrolled_only());
        let course = SessionMeta { course_code: Some("CS101".into()), ..meta() };
        assert!(course.enrolled_only());
        assert!(!SessionMeta { allow_walk_ins: true, ..course }.enrolled_only());
    }

    #[test]
    fn a_session_without_a_course_keeps_its_json_as_before() {
        let json = meta().to_json();
        assert!(!json.contains("course_code") && !json.contains("allow_walk_ins"), "{json}");
        let course = SessionMeta { course_code: Some("CS101".into()), allow_walk_ins: true, ..meta() };
        assert_eq!(SessionMeta::from_json(&course.to_json()).unwrap(), course);
    }

    #[test]
    fn a_session_is_active_until_its_end_time() {
        assert!(meta().is_active(9_999));
        assert!(!meta().is_active(10_000));
    }

    #[test]
    fn finishing_moves_the_end_to_now_but_never_later() {
        assert_eq!(meta().finished(5_000).end_ms, 5_000);
        assert_eq!(meta().finished(50_000).end_ms, 10_000);
    }

    #[test]
    fn a_deleted_session_is_closed_and_keeps_the_reason() {
        let deleted = meta().deleted("wrong room", 2_000);
        assert!(!deleted.is_active(2_001));
        assert_eq!(deleted.deletion_reason.as_deref(), Some("wrong room"));
        assert_eq!(deleted.end_ms, 2_000);
    }

    #[test]
    fn a_live_session_is_open_until_its_end_then_ended() {
        assert_eq!(meta().state(9_999, false), SessionState::Open);
        assert_eq!(meta().state(10_000, false), SessionState::Ended);
        assert_eq!(meta().finished(5_000).state(5_000, false), SessionState::Ended);
    }

    #[test]
    fn an_archived_session_is_archived_even_before_its_end_time() {
        assert_eq!(meta().state(10_000, true), SessionState::Archived);
        assert_eq!(meta().state(5_000, true), SessionState::Archived, "archived wins over an end in the future");
    }

    #[test]
    fn deleted_wins_over_everything_live_or_archived() {
        let deleted = meta().deleted("wrong room", 2_000);
        assert_eq!(deleted.state(2_000, false), SessionState::Deleted);
        assert_eq!(deleted.state(50_000, true), SessionState::Deleted);
        let mut not_yet_closed = meta();
        not_yet_closed.is_deleted = true;
        assert_eq!(not_yet_closed.state(1_000, false), SessionState::Deleted, "never open once deleted");
    }

    #[test]
    fn json_round_trips() {
        let m = meta();
        assert_eq!(SessionMeta::from_json(&m.to_json()).unwrap(), m);
    }
}
