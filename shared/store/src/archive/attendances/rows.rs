//! The archive's rows as queries read them, and how they become the
//! domain's sessions and records.

use attn_domain::{FailCode, Record, SecurityOption, SessionMeta};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{StoreError, StoreResult, archive::to_ms};

/// A row of `attendances`, as the queries that read one whole select it.
pub(super) struct AttendanceRow {
    pub(super) attendance_id: Uuid,
    pub(super) lesson_name: String,
    pub(super) teacher_school_number: String,
    pub(super) teacher_full_name: String,
    pub(super) start_time: DateTime<Utc>,
    pub(super) end_time: DateTime<Utc>,
    pub(super) security_option: i16,
    pub(super) networks: Vec<String>,
    pub(super) is_deleted: bool,
    pub(super) deletion_reason: Option<String>,
    pub(super) deletion_time: Option<DateTime<Utc>>,
    pub(super) check_in_code_period_secs: Option<i32>,
    pub(super) course_code: Option<String>,
    pub(super) allow_walk_ins: bool,
    pub(super) time_zone: Option<String>,
}

impl TryFrom<AttendanceRow> for SessionMeta {
    type Error = StoreError;

    fn try_from(row: AttendanceRow) -> StoreResult<Self> {
        let what = || format!("archived session {}", row.attendance_id);
        let networks = row
            .networks
            .iter()
            .map(|net| net.parse())
            .collect::<Result<_, _>>()
            .map_err(|err| StoreError::corrupt(what(), err))?;
        Ok(SessionMeta {
            attendance_id: row.attendance_id,
            security_option: SecurityOption::from_number(row.security_option.into())
                .map_err(|err| StoreError::corrupt(what(), err))?,
            lesson_name: row.lesson_name,
            teacher_school_number: row.teacher_school_number,
            teacher_full_name: row.teacher_full_name,
            start_ms: to_ms(row.start_time),
            end_ms: to_ms(row.end_time),
            networks,
            is_deleted: row.is_deleted,
            deletion_reason: row.deletion_reason,
            deletion_time_ms: row.deletion_time.map(to_ms),
            check_in_code_period_secs: row.check_in_code_period_secs.and_then(|secs| u32::try_from(secs).ok()),
            course_code: row.course_code,
            allow_walk_ins: row.allow_walk_ins,
            time_zone: row.time_zone,
        })
    }
}

/// A row of `attendance_records`, as the queries that read one select it.
pub(super) struct RecordRow {
    pub(super) student_number: String,
    pub(super) student_full_name: String,
    pub(super) is_attended: bool,
    pub(super) attendance_time: Option<DateTime<Utc>>,
    pub(super) fail_reason: Option<String>,
    pub(super) fail_code: Option<String>,
    pub(super) is_deleted: bool,
    pub(super) deletion_reason: Option<String>,
    pub(super) deletion_time: Option<DateTime<Utc>>,
    pub(super) by_teacher: bool,
    pub(super) excuse_reason: Option<String>,
}

impl From<RecordRow> for Record {
    fn from(row: RecordRow) -> Self {
        let record = Record {
            student_number: row.student_number,
            student_full_name: row.student_full_name,
            is_attended: row.is_attended,
            attendance_time_ms: row.attendance_time.map(to_ms),
            fail_reason: row.fail_reason,
            // The migration filled in every failed row's code and the
            // column's CHECK admits only known names; a row without one
            // gets it the way a record written before codes does.
            fail_code: row.fail_code.as_deref().and_then(FailCode::parse),
            is_deleted: row.is_deleted,
            deletion_reason: row.deletion_reason,
            deletion_time_ms: row.deletion_time.map(to_ms),
            by_teacher: row.by_teacher,
            excuse_reason: row.excuse_reason,
            // Only live records carry it; an archived pending record is
            // finished by the queue entry that names it.
            face_job_id: None,
            may_retry: false,
        };
        // Recompute the derived flag (and a missing code) through the one
        // constructor that does.
        Record::from_json(&record.to_json()).expect("a record round-trips")
    }
}
