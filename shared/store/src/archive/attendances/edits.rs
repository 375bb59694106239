//! Edits of an archived session or one of its records: each locks the
//! session's row (`FOR UPDATE`, in its own query) in a transaction that the
//! edit commits, with its audit entry, or drops.

use attn_domain::{AuditEntry, FailCode, Record, SessionMeta};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{
    audit::insert_audit,
    rows::{AttendanceRow, RecordRow},
};
use crate::{
    StoreResult,
    archive::{Archive, to_time},
};

/// An archived record locked for change; commit or drop (rolls back).
pub struct ArchivedRecordEdit {
    tx: Transaction<'static, Postgres>,
    pub meta: SessionMeta,
    pub record: Option<Record>,
    /// Without a record: the student's name if they were on the course
    /// session's roster (so the teacher can decide for an absentee).
    pub enrolled_name: Option<String>,
}

/// An archived session locked for change; commit or drop (rolls back).
pub struct ArchivedSessionEdit {
    tx: Transaction<'static, Postgres>,
    pub meta: SessionMeta,
}

impl Archive {
    /// Locks an archived session and one of its records (which may not exist
    /// yet) for an edit. `None`: no such archived session.
    pub async fn begin_record_edit(&self, id: Uuid, student: &str) -> StoreResult<Option<ArchivedRecordEdit>> {
        let mut tx = self.begin().await?;
        // FOR UPDATE, not SHARE: the edit bumps the session's version.
        let Some(meta) = lock_attendance(&mut tx, id).await? else {
            return Ok(None);
        };
        let record = sqlx::query_as!(
            RecordRow,
            r#"SELECT student_number, student_full_name, is_attended, attendance_time, fail_reason,
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher, excuse_reason
               FROM attendance_records WHERE attendance_id = $1 AND student_number = $2
               FOR UPDATE"#,
            id,
            student
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(Record::from);
        let enrolled_name = match record {
            Some(_) => None,
            None => {
                sqlx::query_scalar!(
                    r#"SELECT student_full_name FROM attendance_enrolments
                       WHERE attendance_id = $1 AND student_number = $2"#,
                    id,
                    student
                )
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        Ok(Some(ArchivedRecordEdit { tx, meta, record, enrolled_name }))
    }

    /// Locks an archived session for an edit. `None`: no such archived session.
    pub async fn begin_session_edit(&self, id: Uuid) -> StoreResult<Option<ArchivedSessionEdit>> {
        let mut tx = self.begin().await?;
        let Some(meta) = lock_attendance(&mut tx, id).await? else {
            return Ok(None);
        };
        Ok(Some(ArchivedSessionEdit { tx, meta }))
    }
}

impl ArchivedRecordEdit {
    pub async fn commit(mut self, new: &Record, audit: &AuditEntry) -> StoreResult<()> {
        let id = self.meta.attendance_id;
        let version = bump_version(&mut self.tx, id).await?;
        sqlx::query!(
            r#"INSERT INTO users (school_number, full_name, role) VALUES ($1, $2, 'student')
               ON CONFLICT (school_number) DO NOTHING"#,
            new.student_number,
            new.student_full_name
        )
        .execute(&mut *self.tx)
        .await?;
        sqlx::query!(
            r#"INSERT INTO attendance_records (attendance_id, student_number, student_full_name,
                   is_attended, attendance_time, fail_reason, is_deleted, deletion_reason,
                   deletion_time, by_teacher, live_version, fail_code, excuse_reason)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (attendance_id, student_number) DO UPDATE SET
                   student_full_name = EXCLUDED.student_full_name,
                   is_attended = EXCLUDED.is_attended,
                   attendance_time = EXCLUDED.attendance_time,
                   fail_reason = EXCLUDED.fail_reason,
                   fail_code = EXCLUDED.fail_code,
                   is_deleted = EXCLUDED.is_deleted,
                   deletion_reason = EXCLUDED.deletion_reason,
                   deletion_time = EXCLUDED.deletion_time,
                   by_teacher = EXCLUDED.by_teacher,
                   excuse_reason = EXCLUDED.excuse_reason,
                   live_version = EXCLUDED.live_version"#,
            id,
            new.student_number,
            new.student_full_name,
            new.is_attended,
            new.attendance_time_ms.map(to_time),
            new.fail_reason,
            new.is_deleted,
            new.deletion_reason,
            new.deletion_time_ms.map(to_time),
            new.by_teacher,
            version,
            new.fail_code.map(FailCode::as_str),
            new.excuse_reason,
        )
        .execute(&mut *self.tx)
        .await?;
        insert_audit(&mut self.tx, id, &[(-1, audit.clone())]).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

impl ArchivedSessionEdit {
    pub async fn commit(mut self, new: &SessionMeta, audit: &AuditEntry) -> StoreResult<()> {
        update_attendance(&mut self.tx, new).await?;
        insert_audit(&mut self.tx, new.attendance_id, &[(-1, audit.clone())]).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Reads an archived session and locks its row for an edit.
async fn lock_attendance(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> StoreResult<Option<SessionMeta>> {
    let row = sqlx::query_as!(
        AttendanceRow,
        r#"SELECT attendance_id, lesson_name, teacher_school_number, teacher_full_name,
                  start_time, end_time, security_option, networks, is_deleted,
                  deletion_reason, deletion_time, check_in_code_period_secs,
                  course_code, allow_walk_ins, time_zone
           FROM attendances WHERE attendance_id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    row.map(SessionMeta::try_from).transpose()
}

/// A teacher's edit of an archived session (locked by the caller), one
/// version past everything archived so far.
async fn update_attendance(tx: &mut Transaction<'static, Postgres>, meta: &SessionMeta) -> StoreResult<()> {
    let networks: Vec<String> = meta.networks.iter().map(ToString::to_string).collect();
    sqlx::query!(
        r#"UPDATE attendances SET lesson_name = $2, end_time = $3, networks = $4, is_deleted = $5,
               deletion_reason = $6, deletion_time = $7, live_version = live_version + 1
           WHERE attendance_id = $1"#,
        meta.attendance_id,
        meta.lesson_name,
        to_time(meta.end_ms),
        &networks,
        meta.is_deleted,
        meta.deletion_reason,
        meta.deletion_time_ms.map(to_time),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an archived session (locked by the caller) one version on, for an
/// edit of one of its records; the new version.
async fn bump_version(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> StoreResult<i64> {
    Ok(sqlx::query_scalar!(
        "UPDATE attendances SET live_version = live_version + 1 WHERE attendance_id = $1 RETURNING live_version",
        id
    )
    .fetch_one(&mut **tx)
    .await?)
}
