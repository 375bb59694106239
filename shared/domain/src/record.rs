//! A student's line on a session's roster, and the rules for changing it.
//!
//! The same struct is the JSON value kept in Redis while a session is live,
//! and the row archived in PostgreSQL afterwards.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use crate::fail_code::FailCode;

/// The seeds' fail reasons, kept word for word as the text of a record's
/// `fail_reason`. Clients switch on [`FailCode`], stored beside the text.
pub mod fail_reason {
    pub const WIFI_FAILED: &str = "WIFI_FAILED";
    pub const WIFI_REQUIRED_BUT_IP_MISSING: &str = "WIFI_REQUIRED_BUT_IP_MISSING";
    pub const FACE_RECOGNITION_PENDING: &str = "FACE_RECOGNITION_PENDING";
    pub const FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING: &str = "FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING";
    pub const FACE_VERIFICATION_SUBMISSION_FAILED: &str = "FACE_VERIFICATION_SUBMISSION_FAILED";
    pub const REFERENCE_IMAGE_NOT_FOUND: &str = "REFERENCE_IMAGE_NOT_FOUND";
    /// Followed by `: <the gateway's reason>`.
    pub const FACE_VERIFICATION_FAILED: &str = "FACE_VERIFICATION_FAILED";
    /// The gateway gave no verdict within `ATTN_FACE_MAX_AGE_SECS`; the
    /// student may check in again.
    pub const FACE_VERIFICATION_TIMED_OUT: &str = "FACE_VERIFICATION_TIMED_OUT";
    /// The session asks for the rotating check-in code and the check-in's
    /// was missing, wrong or stale; the student may check in again.
    pub const CHECK_IN_CODE_INVALID: &str = "CHECK_IN_CODE_INVALID";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub student_number: String,
    pub student_full_name: String,
    pub is_attended: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendance_time_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// Why it failed, as a code; set with `fail_reason` by whoever failed
    /// the record, never parsed from it. `None` when not failed (attended,
    /// or a face check pending). A deleted record keeps the code it had.
    /// Records written before codes were stored have none in their JSON:
    /// [`Record::from_json`] fills it in by [`FailCode::of_unmarked_record`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_code: Option<FailCode>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_time_ms: Option<i64>,
    /// Set when a teacher decided this record (accept, fail, add, delete):
    /// the student can then no longer overwrite it by checking in again.
    #[serde(default)]
    pub by_teacher: bool,
    /// Set when the teacher excused the student (ExcuseStudent): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excuse_reason: Option<String>,
    /// The face gateway's job for a pending check-in: only that job's result
    /// may finish this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_job_id: Option<String>,
    /// Whether a new check-in may replace this record. Derived from the other
    /// fields by [`Record::may_retry`] and stored so that the atomic check-in
    /// in Redis can test one flag instead of repeating this rule in Lua.
    #[serde(default)]
    pub may_retry: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    Attended,
    Pending,
    Failed,
    Deleted,
    /// The teacher excused the student from this session.
    Excused,
    /// A course session's enrolled student with no check-in (yet): the
    /// roster's line for them, never a stored record.
    NotCheckedIn,
    /// The same, once the session has ended ([`Record::roster_status`]).
    Absent,
}

/// Why a student may not check in again over an existing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttendConflict {
    AlreadyAttended,
    AlreadyPending,
    /// The teacher failed the student by hand; only the teacher can change that.
    FailedByTeacher,
    /// The teacher removed the record.
    Deleted,
    /// The teacher excused the student.
    Excused,
}

impl AttendConflict {
    pub fn message(self) -> &'static str {
        match self {
            Self::AlreadyAttended => "you have already attended this session",
            Self::AlreadyPending => "your check-in is already pending a face check",
            Self::FailedByTeacher => "your teacher marked this check-in as failed; ask them to accept you",
            Self::Deleted => "your teacher removed your record from this session; ask them to add you",
            Self::Excused => "your teacher excused you from this session; ask them to accept you",
        }
    }
}

/// A course session's full roster: its records, and a
/// [`Record::not_checked_in`] line for every enrolled student (number,
/// full name) without one, by student number.
pub fn with_absentees(mut records: Vec<Record>, enrolled: impl IntoIterator<Item = (String, String)>) -> Vec<Record> {
    let recorded: std::collections::HashSet<String> = records.iter().map(|r| r.student_number.clone()).collect();
    records.extend(
        enrolled
            .into_iter()
            .filter(|(number, _)| !recorded.contains(number))
            .map(|(number, name)| Record::not_checked_in(&number, &name)),
    );
    records.sort_by(|a, b| a.student_number.cmp(&b.student_number));
    records
}

/// A session's roster as a teacher reads it: its lines ([`with_absentees`])
/// and how many of them are records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub lines: Vec<Record>,
    pub record_count: usize,
}

impl Roster {
    pub fn new(records: Vec<Record>, enrolled: impl IntoIterator<Item = (String, String)>) -> Self {
        let record_count = records.len();
        Self { lines: with_absentees(records, enrolled), record_count }
    }
}

pub fn millis_to_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

impl Record {
    fn new(student_number: &str, student_full_name: &str) -> Self {
        Self {
            student_number: student_number.to_owned(),
            student_full_name: student_full_name.to_owned(),
            is_attended: false,
            attendance_time_ms: None,
            fail_reason: None,
            fail_code: None,
            is_deleted: false,
            deletion_reason: None,
            deletion_time_ms: None,
            by_teacher: false,
            excuse_reason: None,
            face_job_id: None,
            may_retry: false,
        }
    }

    /// A check-in that passed every check the session asks for.
    pub fn attended(student_number: &str, student_full_name: &str, now_ms: i64) -> Self {
        let mut record = Self::new(student_number, student_full_name);
        record.is_attended = true;
        record.attendance_time_ms = Some(now_ms);
        record.sealed()
    }

    /// A check-in that failed a check: the code, with its name as the text.
    pub fn failed(student_number: &str, student_full_name: &str, code: FailCode) -> Self {
        let mut record = Self::new(student_number, student_full_name);
        record.fail_reason = Some(code.as_str().to_owned());
        record.fail_code = Some(code);
        record.sealed()
    }

    /// A check-in waiting for the face gateway's job `job_id`: the seeds'
    /// `FACE_RECOGNITION_PENDING` text, and no code (it has not failed).
    pub fn pending_face_check(student_number: &str, student_full_name: &str, job_id: &str) -> Self {
        let mut record = Self::new(student_number, student_full_name);
        record.fail_reason = Some(fail_reason::FACE_RECOGNITION_PENDING.to_owned());
        record.face_job_id = Some(job_id.to_owned());
        record.sealed()
    }

    /// Is this record waiting for exactly this face job?
    pub fn awaits_face_job(&self, job_id: &str) -> bool {
        self.status() == RecordStatus::Pending && self.face_job_id.as_deref() == Some(job_id)
    }

    /// Recomputes the derived `may_retry` flag; every constructor and edit ends here.
    fn sealed(mut self) -> Self {
        self.may_retry = self.attend_conflict().is_none();
        self
    }

    pub fn status(&self) -> RecordStatus {
        if self.is_deleted {
            RecordStatus::Deleted
        } else if self.is_attended {
            RecordStatus::Attended
        } else if self.excuse_reason.is_some() {
            RecordStatus::Excused
        } else if self.fail_reason.is_none() && self.fail_code.is_none() {
            // Nothing happened yet: only a roster line looks like this
            // (every stored failure carries its reason).
            RecordStatus::NotCheckedIn
        } else if self.fail_code.is_none() && self.fail_reason.as_deref() == Some(fail_reason::FACE_RECOGNITION_PENDING)
        {
            // The code tells the system's pending text from a teacher who
            // typed the same words.
            RecordStatus::Pending
        } else {
            RecordStatus::Failed
        }
    }

    /// The status a roster shows: an enrolled student's missing check-in
    /// becomes an absence once the session has ended.
    pub fn roster_status(&self, session_ended: bool) -> RecordStatus {
        match self.status() {
            RecordStatus::NotCheckedIn if session_ended => RecordStatus::Absent,
            status => status,
        }
    }

    /// Final: nothing the system does will change it any more (a teacher still can).
    pub fn is_final(&self) -> bool {
        self.status() != RecordStatus::Pending
    }

    /// The seeds' rule: attended or pending can't be attended again; an
    /// earlier failed check-in may be retried. We add: a teacher's decision
    /// stands until the teacher changes it.
    pub fn attend_conflict(&self) -> Option<AttendConflict> {
        match self.status() {
            RecordStatus::Deleted => Some(AttendConflict::Deleted),
            RecordStatus::Attended => Some(AttendConflict::AlreadyAttended),
            RecordStatus::Pending => Some(AttendConflict::AlreadyPending),
            RecordStatus::Excused => Some(AttendConflict::Excused),
            RecordStatus::NotCheckedIn | RecordStatus::Absent => None,
            RecordStatus::Failed if self.by_teacher => Some(AttendConflict::FailedByTeacher),
            RecordStatus::Failed => None,
        }
    }

    // === teacher edits ===

    /// A teacher's decision starts from a clean slate: nothing of an earlier
    /// check-in, failure, excuse or deletion is left but who the student is
    /// (and a first attendance time, which `accepted` keeps).
    fn decided_by_teacher(&self) -> Self {
        let mut record = self.clone();
        record.is_attended = false;
        record.attendance_time_ms = None;
        record.fail_reason = None;
        record.fail_code = None;
        record.is_deleted = false;
        record.deletion_reason = None;
        record.deletion_time_ms = None;
        record.excuse_reason = None;
        record.by_teacher = true;
        record
    }

    /// The teacher accepts the student. Keeps the first attendance time if any.
    pub fn accepted(&self, now_ms: i64) -> Self {
        let mut record = self.decided_by_teacher();
        record.is_attended = true;
        record.attendance_time_ms = Some(self.attendance_time_ms.unwrap_or(now_ms));
        record.sealed()
    }

    /// The teacher fails the student with a reason of their own.
    pub fn failed_by_teacher(&self, reason: &str) -> Self {
        let mut record = self.decided_by_teacher();
        record.fail_reason = Some(reason.to_owned());
        record.fail_code = Some(FailCode::TeacherDecision);
        record.sealed()
    }

    /// The teacher excuses the student, with a reason of their own: neither
    /// attended nor failed, and the student cannot check in over it.
    pub fn excused(&self, reason: &str) -> Self {
        let mut record = self.decided_by_teacher();
        record.face_job_id = None;
        record.excuse_reason = Some(reason.to_owned());
        record.sealed()
    }

    /// The starting point of a teacher's edit for an enrolled student who
    /// has no record yet: no check-in, nothing decided.
    pub fn not_checked_in(student_number: &str, student_full_name: &str) -> Self {
        Self::new(student_number, student_full_name).sealed()
    }

    /// A record the teacher writes by hand (AddStudent).
    pub fn added_by_teacher(
        student_number: &str,
        student_full_name: &str,
        is_attended: bool,
        reason: &str,
        now_ms: i64,
    ) -> Self {
        let base = Self::new(student_number, student_full_name);
        if is_attended { base.accepted(now_ms) } else { base.failed_by_teacher(reason) }
    }

    /// Soft delete: the record stays, marked deleted with reason and time.
    pub fn deleted(&self, reason: &str, now_ms: i64) -> Self {
        let mut record = self.clone();
        record.is_deleted = true;
        record.deletion_reason = Some(reason.to_owned());
        record.deletion_time_ms = Some(now_ms);
        record.by_teacher = true;
        record.sealed()
    }

    // === face check results ===

    /// The face gateway matched the student.
    pub fn face_verified(&self, now_ms: i64) -> Self {
        let mut record = self.clone();
        record.is_attended = true;
        record.attendance_time_ms = Some(now_ms);
        record.fail_reason = None;
        record.fail_code = None;
        record.face_job_id = None;
        record.sealed()
    }

    /// The face gateway did not match, or the check could not be completed.
    pub fn face_failed(&self, reason: &str) -> Self {
        let mut record = self.clone();
        record.is_attended = false;
        record.attendance_time_ms = None;
        record.fail_reason = Some(format!("{}: {reason}", fail_reason::FACE_VERIFICATION_FAILED));
        record.fail_code = Some(FailCode::FaceVerificationFailed);
        record.face_job_id = None;
        record.sealed()
    }

    /// The gateway never gave a verdict in time.
    pub fn face_timed_out(&self) -> Self {
        let mut record = self.clone();
        record.is_attended = false;
        record.attendance_time_ms = None;
        record.fail_reason = Some(fail_reason::FACE_VERIFICATION_TIMED_OUT.to_owned());
        record.fail_code = Some(FailCode::FaceVerificationTimedOut);
        record.face_job_id = None;
        record.sealed()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record always serialises")
    }

    /// Reads a record, filling in the code of one written before codes
    /// were stored (see [`FailCode::of_unmarked_record`]).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<Self>(json).map(Self::with_code).map(Self::sealed)
    }

    /// Fills in a missing code from what the record says; a record with a
    /// code, or without a reason, is left alone.
    pub fn with_code(mut self) -> Self {
        if self.fail_code.is_none() {
            self.fail_code =
                FailCode::of_unmarked_record(self.fail_reason.as_deref(), self.by_teacher, self.is_deleted);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn an_attended_record_cannot_be_attended_again() {
        let record = Record::attended("s1", "Ada", NOW);
        assert_eq!(record.status(), RecordStatus::Attended);
        assert_eq!(record.attend_conflict(), Some(AttendConflict::AlreadyAttended));
        assert!(!record.may_retry);
    }

    #[test]
    fn a_pending_record_cannot_be_attended_again() {
        let record = Record::pending_face_check("s1", "Ada", "job-1");
        assert_eq!(record.status(), RecordStatus::Pending);
        assert_eq!(record.attend_conflict(), Some(AttendConflict::AlreadyPending));
        assert!(!record.is_final());
    }

    #[test]
    fn a_failed_network_check_may_be_retried() {
        let record = Record::failed("s1", "Ada", FailCode::WifiFailed);
        assert_eq!(record.status(), RecordStatus::Failed);
        assert_eq!(record.attend_conflict(), None);
        assert!(record.may_retry);
        assert!(record.is_final());
    }

    #[test]
    fn a_teachers_fail_stands_until_the_teacher_changes_it() {
        let record = Record::attended("s1", "Ada", NOW).failed_by_teacher("left early");
        assert_eq!(record.attend_conflict(), Some(AttendConflict::FailedByTeacher));
        assert_eq!(record.fail_reason.as_deref(), Some("left early"));
        assert!(record.attendance_time_ms.is_none());
        let accepted = record.accepted(NOW + 5);
        assert!(accepted.is_attended);
        assert_eq!(accepted.attendance_time_ms, Some(NOW + 5));
        assert_eq!(accepted.fail_reason, None);
    }

    #[test]
    fn an_excused_student_cannot_check_in_over_it_until_the_teacher_accepts() {
        let record = Record::failed("s1", "Ada", FailCode::WifiFailed).excused("doctor's note");
        assert_eq!(record.status(), RecordStatus::Excused);
        assert_eq!((record.fail_reason.as_deref(), record.fail_code), (None, None));
        assert_eq!(record.attend_conflict(), Some(AttendConflict::Excused));
        let accepted = record.accepted(NOW);
        assert_eq!((accepted.status(), accepted.excuse_reason.as_deref()), (RecordStatus::Attended, None));
        let failed = record.failed_by_teacher("no note after all");
        assert_eq!((failed.status(), failed.excuse_reason.as_deref()), (RecordStatus::Failed, None));
        assert_eq!(record.deleted("mistake", NOW).status(), RecordStatus::Deleted);
    }

    #[test]
    fn enrolled_students_without_a_record_join_the_roster_not_checked_in_then_absent() {
        let records = vec![Record::attended("s3", "Cy", NOW), Record::failed("s1", "Ada", FailCode::WifiFailed)];
        let enrolled = [("s1", "Ada"), ("s2", "Bo"), ("s4", "Di")].map(|(n, f)| (n.to_owned(), f.to_owned()));
        let roster = with_absentees(records, enrolled);
        let lines: Vec<_> =
            roster.iter().map(|r| (r.student_number.as_str(), r.roster_status(false), r.roster_status(true))).collect();
        assert_eq!(
            lines,
            [
                ("s1", RecordStatus::Failed, RecordStatus::Failed),
                ("s2", RecordStatus::NotCheckedIn, RecordStatus::Absent),
                ("s3", RecordStatus::Attended, RecordStatus::Attended),
                ("s4", RecordStatus::NotCheckedIn, RecordStatus::Absent),
            ]
        );
        assert_eq!(roster[1].student_full_name, "Bo");
        // A student with no check-in may still check in.
        assert_eq!(roster[1].attend_conflict(), None);
    }

    #[test]
    fn an_excused_record_round_trips_through_json() {
        let record = Record::not_checked_in("s1", "Ada").excused("field trip");
        assert_eq!(Record::from_json(&record.to_json()).unwrap(), record);
        assert!(!Record::not_checked_in("s1", "Ada").to_json().contains("excuse"));
    }

    #[test]
    fn accepting_keeps_the_first_attendance_time() {
        let record = Record::attended("s1", "Ada", NOW).accepted(NOW + 1000);
        assert_eq!(record.attendance_time_ms, Some(NOW));
    }

    #[test]
    fn a_deleted_record_keeps_its_reason_and_time_and_blocks_check_in() {
        let record = Record::attended("s1", "Ada", NOW).deleted("duplicate", NOW + 1);
        assert_eq!(record.status(), RecordStatus::Deleted);
        assert_eq!(record.deletion_reason.as_deref(), Some("duplicate"));
        assert_eq!(record.deletion_time_ms, Some(NOW + 1));
        assert_eq!(record.attend_conflict(), Some(AttendConflict::Deleted));
        assert!(record.is_attended, "soft delete keeps the other fields");
    }

    #[test]
    fn accepting_a_deleted_record_restores_it() {
        let record = Record::attended("s1", "Ada", NOW).deleted("oops", NOW).accepted(NOW);
        assert!(!record.is_deleted);
        assert!(record.deletion_reason.is_none());
    }

    #[test]
    fn only_its_own_job_can_finish_a_pending_record() {
        let pending = Record::pending_face_check("s1", "Ada", "job-1");
        assert!(pending.awaits_face_job("job-1"));
        assert!(!pending.awaits_face_job("job-0"));
        assert!(!pending.face_verified(NOW).awaits_face_job("job-1"), "a final record awaits nothing");
    }

    #[test]
    fn face_results_finish_a_pending_record() {
        let pending = Record::pending_face_check("s1", "Ada", "job-1");
        let ok = pending.face_verified(NOW);
        assert_eq!(ok.status(), RecordStatus::Attended);
        assert_eq!(ok.fail_reason, None);
        let bad = pending.face_failed("faces do not match");
        assert_eq!(bad.fail_reason.as_deref(), Some("FACE_VERIFICATION_FAILED: faces do not match"));
        assert!(bad.may_retry, "a failed face check may be retried like the seeds' other failures");
    }

    #[test]
    fn a_face_check_that_timed_out_is_failed_and_may_be_retried() {
        let timed_out = Record::pending_face_check("s1", "Ada", "job-1").face_timed_out();
        assert_eq!(timed_out.status(), RecordStatus::Failed);
        assert_eq!(timed_out.fail_reason.as_deref(), Some("FACE_VERIFICATION_TIMED_OUT"));
        assert_eq!(timed_out.face_job_id, None);
        assert!(timed_out.may_retry, "the student can check in again");
    }

    #[test]
    fn a_wrong_check_in_code_fails_like_a_network_check_and_may_be_retried() {
        let wrong = Record::failed("s1", "Ada", FailCode::CheckInCodeInvalid);
        assert_eq!(wrong.status(), RecordStatus::Failed);
        assert_eq!(wrong.fail_reason.as_deref(), Some("CHECK_IN_CODE_INVALID"));
        assert_eq!(wrong.fail_code, Some(FailCode::CheckInCodeInvalid));
        assert!(wrong.may_retry, "the student may send the code shown now");
        assert_eq!(wrong.attend_conflict(), None);
        let back = Record::from_json(&wrong.to_json()).unwrap();
        assert_eq!(back, wrong);
    }

    #[test]
    fn added_by_teacher_is_accepted_or_failed_with_the_reason() {
        let yes = Record::added_by_teacher("s9", "Bo", true, "", NOW);
        assert!(yes.is_attended && yes.by_teacher);
        let no = Record::added_by_teacher("s9", "Bo", false, "absent", NOW);
        assert_eq!(no.fail_reason.as_deref(), Some("absent"));
        assert_eq!(no.attend_conflict(), Some(AttendConflict::FailedByTeacher));
    }

    #[test]
    fn json_round_trip_recomputes_the_derived_flag() {
        let record = Record::failed("s1", "Ada", FailCode::WifiFailed);
        let mut json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
        json["may_retry"] = serde_json::Value::Bool(false);
        let back = Record::from_json(&json.to_string()).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn each_way_of_failing_stores_its_code() {
        assert_eq!(Record::failed("s1", "Ada", FailCode::WifiFailed).fail_code, Some(FailCode::WifiFailed));
        let pending = Record::pending_face_check("s1", "Ada", "job-1");
        assert_eq!(pending.fail_code, None, "pending is not a failure");
        assert_eq!(pending.face_failed("no match").fail_code, Some(FailCode::FaceVerificationFailed));
        assert_eq!(pending.face_timed_out().fail_code, Some(FailCode::FaceVerificationTimedOut));
        assert_eq!(pending.face_verified(NOW).fail_code, None);
        let by_teacher = Record::attended("s1", "Ada", NOW).failed_by_teacher("absent");
        assert_eq!(by_teacher.fail_code, Some(FailCode::TeacherDecision));
        assert_eq!(by_teacher.accepted(NOW).fail_code, None);
        assert_eq!(
            Record::added_by_teacher("s9", "Bo", false, "absent", NOW).fail_code,
            Some(FailCode::TeacherDecision)
        );
    }

    #[test]
    fn a_teachers_words_that_look_like_a_code_are_still_a_teacher_decision() {
        let record = Record::failed("s1", "Ada", FailCode::WifiFailed).failed_by_teacher("WIFI_FAILED: spoof");
        assert_eq!(record.fail_code, Some(FailCode::TeacherDecision));
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(back.fail_code, Some(FailCode::TeacherDecision));
        let deleted = record.deleted("duplicate", NOW);
        assert_eq!(Record::from_json(&deleted.to_json()).unwrap().fail_code, Some(FailCode::TeacherDecision));
    }

    #[test]
    fn a_teacher_typing_the_pending_words_does_not_make_the_record_pending() {
        let pending = Record::pending_face_check("s1", "Ada", "job-1");
        let failed = pending.failed_by_teacher("FACE_RECOGNITION_PENDING");
        assert_eq!(failed.status(), RecordStatus::Failed);
        assert!(!failed.awaits_face_job("job-1"), "the face job can no longer overwrite the teacher");
    }

    #[test]
    fn a_record_written_before_codes_gets_one_from_what_it_says() {
        let old =
            r#"{"student_number":"s1","student_full_name":"Ada","is_attended":false,"fail_reason":"WIFI_FAILED"}"#;
        assert_eq!(Record::from_json(old).unwrap().fail_code, Some(FailCode::WifiFailed));
        let old_teacher = r#"{"student_number":"s1","student_full_name":"Ada","is_attended":false,
            "fail_reason":"WIFI_FAILED: spoof","by_teacher":true}"#;
        assert_eq!(Record::from_json(old_teacher).unwrap().fail_code, Some(FailCode::TeacherDecision));
        let old_pending = r#"{"student_number":"s1","student_full_name":"Ada","is_attended":false,
            "fail_reason":"FACE_RECOGNITION_PENDING","face_job_id":"job-1"}"#;
        let pending = Record::from_json(old_pending).unwrap();
        assert_eq!(pending.fail_code, None);
        assert_eq!(pending.status(), RecordStatus::Pending);
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        assert!(Record::from_json("{\"student_number\": 5}").is_err());
        assert!(Record::from_json("not json").is_err());
    }
}
