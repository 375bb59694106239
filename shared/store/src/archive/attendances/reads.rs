//! Reading the archive: one session, its records, and the paged listings
//! of a teacher's sessions and a student's history.

use attn_domain::{Record, Roster, SessionMeta, paging::Cursor};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::{AttendanceRow, RecordRow};
use crate::{
    StoreResult,
    archive::{Archive, to_time},
};

/// An archived session with its roster size, for listings.
#[derive(Debug, Clone)]
pub struct TeacherAttendance {
    pub meta: SessionMeta,
    pub record_count: u32,
}

impl Archive {
    pub async fn attendance(&self, id: Uuid) -> StoreResult<Option<SessionMeta>> {
        let mut work = self.work().await?;
        let row = sqlx::query_as!(
            AttendanceRow,
            r#"SELECT attendance_id, lesson_name, teacher_school_number, teacher_full_name,
                      start_time, end_time, security_option, networks, is_deleted,
                      deletion_reason, deletion_time, check_in_code_period_secs,
                      course_code, allow_walk_ins, time_zone
               FROM attendances WHERE attendance_id = $1"#,
            id
        )
        .fetch_optional(&mut *work)
        .await?;
        work.done().await?;
        row.map(SessionMeta::try_from).transpose()
    }

    pub async fn records(&self, id: Uuid) -> StoreResult<Vec<Record>> {
        let mut work = self.work().await?;
        let rows = sqlx::query_as!(
            RecordRow,
            r#"SELECT student_number, student_full_name, is_attended, attendance_time, fail_reason,
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher, excuse_reason
               FROM attendance_records WHERE attendance_id = $1 ORDER BY student_number"#,
            id
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows.into_iter().map(Record::from).collect())
    }

    /// An archived course session's roster as it started (number, full
    /// name), by number; empty for a session without a course.
    async fn enrolled(&self, id: Uuid) -> StoreResult<Vec<(String, String)>> {
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT student_number, student_full_name FROM attendance_enrolments
               WHERE attendance_id = $1 ORDER BY student_number"#,
            id
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows.into_iter().map(|row| (row.student_number, row.student_full_name)).collect())
    }

    /// An archived session's roster: its records, and an absent line for
    /// every student enrolled when it started without one (the two read
    /// side by side).
    pub async fn roster(&self, id: Uuid) -> StoreResult<Roster> {
        let (records, enrolled) = tokio::try_join!(self.records(id), self.enrolled(id))?;
        Ok(Roster::new(records, enrolled))
    }

    pub async fn record(&self, id: Uuid, student: &str) -> StoreResult<Option<Record>> {
        let mut work = self.work().await?;
        let row = sqlx::query_as!(
            RecordRow,
            r#"SELECT student_number, student_full_name, is_attended, attendance_time, fail_reason,
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher, excuse_reason
               FROM attendance_records WHERE attendance_id = $1 AND student_number = $2"#,
            id,
            student
        )
        .fetch_optional(&mut *work)
        .await?;
        work.done().await?;
        Ok(row.map(Record::from))
    }

    /// A teacher's archived sessions, newest first, after `cursor`.
    pub async fn teacher_attendances(
        &self,
        teacher: &str,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> StoreResult<Vec<TeacherAttendance>> {
        let (before, before_id) = cursor.map_or((i64::MAX, Uuid::max()), |c| (c.time_ms, c.id));
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT a.attendance_id, a.lesson_name, a.teacher_school_number, a.teacher_full_name,
                      a.start_time, a.end_time, a.security_option, a.networks, a.is_deleted,
                      a.deletion_reason, a.deletion_time, a.check_in_code_period_secs, a.course_code, a.allow_walk_ins, a.time_zone,
                      (SELECT count(*) FROM attendance_records r
                        WHERE r.attendance_id = a.attendance_id) AS "record_count!"
               FROM attendances a
               WHERE a.teacher_school_number = $1
                 AND (a.start_time, a.attendance_id) < ($2, $3)
               ORDER BY a.start_time DESC, a.attendance_id DESC
               LIMIT $4"#,
            teacher,
            to_time_clamped(before),
            before_id,
            i64::from(limit),
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        rows.into_iter()
            .map(|row| {
                Ok(TeacherAttendance {
                    record_count: u32::try_from(row.record_count).unwrap_or(u32::MAX),
                    meta: SessionMeta::try_from(AttendanceRow {
                        attendance_id: row.attendance_id,
                        lesson_name: row.lesson_name,
                        teacher_school_number: row.teacher_school_number,
                        teacher_full_name: row.teacher_full_name,
                        start_time: row.start_time,
                        end_time: row.end_time,
                        security_option: row.security_option,
                        networks: row.networks,
                        is_deleted: row.is_deleted,
                        deletion_reason: row.deletion_reason,
                        deletion_time: row.deletion_time,
                        check_in_code_period_secs: row.check_in_code_period_secs,
                        course_code: row.course_code,
                        allow_walk_ins: row.allow_walk_ins,
                        time_zone: row.time_zone,
                    })?,
                })
            })
            .collect()
    }

    /// A student's archived records with their sessions, newest first.
    pub async fn student_history(
        &self,
        student: &str,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> StoreResult<Vec<(SessionMeta, Record)>> {
        let (before, before_id) = cursor.map_or((i64::MAX, Uuid::max()), |c| (c.time_ms, c.id));
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT a.attendance_id, a.lesson_name, a.teacher_school_number, a.teacher_full_name,
                      a.start_time, a.end_time, a.security_option, a.networks, a.is_deleted,
                      a.deletion_reason, a.deletion_time, a.check_in_code_period_secs, a.course_code, a.allow_walk_ins, a.time_zone,
                      r.student_number, r.student_full_name, r.is_attended, r.attendance_time,
                      r.fail_reason, r.fail_code, r.is_deleted AS record_deleted,
                      r.deletion_reason AS record_deletion_reason,
                      r.deletion_time AS record_deletion_time, r.by_teacher, r.excuse_reason
               FROM attendance_records r JOIN attendances a USING (attendance_id)
               WHERE r.student_number = $1
                 AND (a.start_time, a.attendance_id) < ($2, $3)
               ORDER BY a.start_time DESC, a.attendance_id DESC
               LIMIT $4"#,
            student,
            to_time_clamped(before),
            before_id,
            i64::from(limit),
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        rows.into_iter()
            .map(|row| {
                let meta = SessionMeta::try_from(AttendanceRow {
                    attendance_id: row.attendance_id,
                    lesson_name: row.lesson_name,
                    teacher_school_number: row.teacher_school_number,
                    teacher_full_name: row.teacher_full_name,
                    start_time: row.start_time,
                    end_time: row.end_time,
                    security_option: row.security_option,
                    networks: row.networks,
                    is_deleted: row.is_deleted,
                    deletion_reason: row.deletion_reason,
                    deletion_time: row.deletion_time,
                    check_in_code_period_secs: row.check_in_code_period_secs,
                    course_code: row.course_code,
                    allow_walk_ins: row.allow_walk_ins,
                    time_zone: row.time_zone,
                })?;
                let record = Record::from(RecordRow {
                    student_number: row.student_number,
                    student_full_name: row.student_full_name,
                    is_attended: row.is_attended,
                    attendance_time: row.attendance_time,
                    fail_reason: row.fail_reason,
                    fail_code: row.fail_code,
                    is_deleted: row.record_deleted,
                    deletion_reason: row.record_deletion_reason,
                    deletion_time: row.record_deletion_time,
                    by_teacher: row.by_teacher,
                    excuse_reason: row.excuse_reason,
                });
                Ok((meta, record))
            })
            .collect()
    }
}

/// i64::MAX ms is past what PostgreSQL stores; the first page asks for
/// "before the end of time" with a date it can hold.
fn to_time_clamped(ms: i64) -> DateTime<Utc> {
    to_time(ms.min(253_402_300_799_000))
}
