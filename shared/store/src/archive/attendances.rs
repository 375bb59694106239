//! Archived sessions and their records.

use attn_domain::{AuditEntry, FailCode, Record, SecurityOption, SessionMeta, paging::Cursor};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{Archive, to_ms, to_time};
use crate::{StoreError, StoreResult};

/// An archived session with its roster size, for listings.
#[derive(Debug, Clone)]
pub struct TeacherAttendance {
    pub meta: SessionMeta,
    pub record_count: u32,
}

/// Everything the sweeper moves from Redis in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct SessionToArchive<'a> {
    pub meta: &'a SessionMeta,
    /// The session's live version when the snapshot was read.
    pub version: u64,
    pub records: &'a [Record],
    /// (the session version at the edit, the edit)
    pub audit: &'a [(i64, AuditEntry)],
}

struct AttendanceRow {
    attendance_id: Uuid,
    lesson_name: String,
    teacher_school_number: String,
    teacher_full_name: String,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    security_option: i16,
    networks: Vec<String>,
    is_deleted: bool,
    deletion_reason: Option<String>,
    deletion_time: Option<DateTime<Utc>>,
    check_in_code_period_secs: Option<i32>,
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
        })
    }
}

struct RecordRow {
    student_number: String,
    student_full_name: String,
    is_attended: bool,
    attendance_time: Option<DateTime<Utc>>,
    fail_reason: Option<String>,
    fail_code: Option<String>,
    is_deleted: bool,
    deletion_reason: Option<String>,
    deletion_time: Option<DateTime<Utc>>,
    by_teacher: bool,
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

/// What an archive write of a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// Written: the archive held an older version, or nothing (records written).
    Written(u64),
    /// Not written: the archive already holds this version or a newer one.
    Stale,
}

/// An archived record locked for change; commit or drop (rolls back).
pub struct ArchivedRecordEdit {
    tx: Transaction<'static, Postgres>,
    pub meta: SessionMeta,
    pub record: Option<Record>,
}

/// An archived session locked for change; commit or drop (rolls back).
pub struct ArchivedSessionEdit {
    tx: Transaction<'static, Postgres>,
    pub meta: SessionMeta,
}

impl Archive {
    pub async fn attendance(&self, id: Uuid) -> StoreResult<Option<SessionMeta>> {
        let mut work = self.work().await?;
        let row = sqlx::query_as!(
            AttendanceRow,
            r#"SELECT attendance_id, lesson_name, teacher_school_number, teacher_full_name,
                      start_time, end_time, security_option, networks, is_deleted,
                      deletion_reason, deletion_time, check_in_code_period_secs
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
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher
               FROM attendance_records WHERE attendance_id = $1 ORDER BY student_number"#,
            id
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows.into_iter().map(Record::from).collect())
    }

    pub async fn record(&self, id: Uuid, student: &str) -> StoreResult<Option<Record>> {
        let mut work = self.work().await?;
        let row = sqlx::query_as!(
            RecordRow,
            r#"SELECT student_number, student_full_name, is_attended, attendance_time, fail_reason,
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher
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
                      a.deletion_reason, a.deletion_time, a.check_in_code_period_secs,
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
                      a.deletion_reason, a.deletion_time, a.check_in_code_period_secs,
                      r.student_number, r.student_full_name, r.is_attended, r.attendance_time,
                      r.fail_reason, r.fail_code, r.is_deleted AS record_deleted,
                      r.deletion_reason AS record_deletion_reason,
                      r.deletion_time AS record_deletion_time, r.by_teacher
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
                });
                Ok((meta, record))
            })
            .collect()
    }

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
                      fail_code, is_deleted, deletion_reason, deletion_time, by_teacher
               FROM attendance_records WHERE attendance_id = $1 AND student_number = $2
               FOR UPDATE"#,
            id,
            student
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(Record::from);
        Ok(Some(ArchivedRecordEdit { tx, meta, record }))
    }

    /// Locks an archived session for an edit. `None`: no such archived session.
    pub async fn begin_session_edit(&self, id: Uuid) -> StoreResult<Option<ArchivedSessionEdit>> {
        let mut tx = self.begin().await?;
        let Some(meta) = lock_attendance(&mut tx, id).await? else {
            return Ok(None);
        };
        Ok(Some(ArchivedSessionEdit { tx, meta }))
    }

    /// Writes a finished session, its records and its live edits in one
    /// transaction, with one statement per table, if the archive holds an
    /// older version of it (or none): archiving a newer snapshot converges
    /// on its state, and an older snapshot never replaces a newer one.
    pub async fn archive_session(&self, session: SessionToArchive<'_>) -> StoreResult<Archived> {
        let meta = session.meta;
        let version = i64::try_from(session.version)
            .map_err(|_| StoreError::corrupt(format!("session {}", meta.attendance_id), "version out of range"))?;
        let mut tx = self.begin().await?;

        let mut numbers = vec![meta.teacher_school_number.as_str()];
        let mut names = vec![meta.teacher_full_name.as_str()];
        let mut roles = vec!["teacher"];
        for record in session.records {
            numbers.push(&record.student_number);
            names.push(&record.student_full_name);
            roles.push("student");
        }
        sqlx::query!(
            // Most students are in the directory already: skipping them by
            // lookup is three times cheaper than letting each insert conflict.
            r#"INSERT INTO users (school_number, full_name, role)
               SELECT DISTINCT ON (n) n, f, r FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(n, f, r)
               WHERE NOT EXISTS (SELECT 1 FROM users known WHERE known.school_number = u.n)
               ON CONFLICT (school_number) DO NOTHING"#,
            &numbers as &[&str],
            &names as &[&str],
            &roles as &[&str],
        )
        .execute(&mut *tx)
        .await?;

        // The common case is a session archived for the first time: its
        // records go in by COPY. A session archived again (an edit raced the
        // last round) is upserted instead, converging on its latest state.
        // The session's row, once written or found newer, stays locked until
        // the commit, so overlapping sweeps of one session take turns.
        let written = match archive_attendance(&mut tx, meta, version).await? {
            Some(Fresh::Inserted) => copy_records(&mut tx, meta.attendance_id, version, session.records).await?,
            Some(Fresh::Updated) => upsert_records(&mut tx, meta.attendance_id, version, session.records).await?,
            None => return Ok(Archived::Stale),
        };

        insert_audit(&mut tx, meta.attendance_id, session.audit).await?;
        tx.commit().await?;
        Ok(Archived::Written(written))
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
                   deletion_time, by_teacher, live_version, fail_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
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

/// A new session's records, by COPY: the fastest way in, and safe because
/// the session row was inserted by this same transaction, so none exist yet.
async fn copy_records(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
    version: i64,
    records: &[Record],
) -> StoreResult<u64> {
    if records.is_empty() {
        return Ok(0);
    }
    let mut csv = String::with_capacity(records.len() * 160);
    for record in records {
        csv_row(&mut csv, id, version, record);
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY attendance_records (attendance_id, student_number, student_full_name, is_attended, \
             attendance_time, fail_reason, is_deleted, deletion_reason, deletion_time, by_teacher, live_version, \
             fail_code) \
             FROM STDIN (FORMAT csv, NULL '\\N')",
        )
        .await?;
    copy.send(csv.as_bytes()).await?;
    Ok(copy.finish().await?)
}

/// One record as a CSV line: text always quoted, `\N` (unquoted) for NULL.
fn csv_row(out: &mut String, id: Uuid, version: i64, record: &Record) {
    use std::fmt::Write as _;
    fn text(out: &mut String, value: &str) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    }
    fn optional(out: &mut String, value: Option<&str>) {
        match value {
            Some(value) => text(out, value),
            None => out.push_str("\\N"),
        }
    }
    let time = |ms: Option<i64>| ms.map(|ms| to_time(ms).to_rfc3339());
    let _ = write!(out, "{id},");
    text(out, &record.student_number);
    out.push(',');
    text(out, &record.student_full_name);
    let _ = write!(out, ",{},", record.is_attended);
    optional(out, time(record.attendance_time_ms).as_deref());
    out.push(',');
    optional(out, record.fail_reason.as_deref());
    let _ = write!(out, ",{},", record.is_deleted);
    optional(out, record.deletion_reason.as_deref());
    out.push(',');
    optional(out, time(record.deletion_time_ms).as_deref());
    let _ = write!(out, ",{},{version},", record.by_teacher);
    optional(out, record.fail_code.map(FailCode::as_str));
    out.push('\n');
}

/// Records of a session archived before, brought up to date in one
/// statement; a row already written from a newer version stays.
async fn upsert_records(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
    version: i64,
    records: &[Record],
) -> StoreResult<u64> {
    let ids = vec![id; records.len()];
    let versions = vec![version; records.len()];
    let students: Vec<&str> = records.iter().map(|r| r.student_number.as_str()).collect();
    let full_names: Vec<&str> = records.iter().map(|r| r.student_full_name.as_str()).collect();
    let attended: Vec<bool> = records.iter().map(|r| r.is_attended).collect();
    let times: Vec<Option<DateTime<Utc>>> = records.iter().map(|r| r.attendance_time_ms.map(to_time)).collect();
    let reasons: Vec<Option<&str>> = records.iter().map(|r| r.fail_reason.as_deref()).collect();
    let codes: Vec<Option<&str>> = records.iter().map(|r| r.fail_code.map(FailCode::as_str)).collect();
    let deleted: Vec<bool> = records.iter().map(|r| r.is_deleted).collect();
    let deletion_reasons: Vec<Option<&str>> = records.iter().map(|r| r.deletion_reason.as_deref()).collect();
    let deletion_times: Vec<Option<DateTime<Utc>>> = records.iter().map(|r| r.deletion_time_ms.map(to_time)).collect();
    let by_teacher: Vec<bool> = records.iter().map(|r| r.by_teacher).collect();
    let written = sqlx::query!(
        r#"INSERT INTO attendance_records (attendance_id, student_number, student_full_name,
                   is_attended, attendance_time, fail_reason, is_deleted, deletion_reason,
                   deletion_time, by_teacher, live_version, fail_code)
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[],
                                    $6::text[], $7::bool[], $8::text[], $9::timestamptz[], $10::bool[],
                                    $11::int8[], $12::text[])
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
                   live_version = EXCLUDED.live_version
               WHERE attendance_records.live_version < EXCLUDED.live_version"#,
        &ids,
        &students as &[&str],
        &full_names as &[&str],
        &attended,
        &times as &[Option<DateTime<Utc>>],
        &reasons as &[Option<&str>],
        &deleted,
        &deletion_reasons as &[Option<&str>],
        &deletion_times as &[Option<DateTime<Utc>>],
        &by_teacher,
        &versions,
        &codes as &[Option<&str>],
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(written)
}

/// Reads an archived session and locks its row for an edit.
async fn lock_attendance(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> StoreResult<Option<SessionMeta>> {
    let row = sqlx::query_as!(
        AttendanceRow,
        r#"SELECT attendance_id, lesson_name, teacher_school_number, teacher_full_name,
                  start_time, end_time, security_option, networks, is_deleted,
                  deletion_reason, deletion_time, check_in_code_period_secs
           FROM attendances WHERE attendance_id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    row.map(SessionMeta::try_from).transpose()
}

/// How [`archive_attendance`] wrote a session's row.
enum Fresh {
    Inserted,
    Updated,
}

/// Inserts an archived session, or updates it if the archive's copy is of
/// an older version; `None` when the archive's copy is as new or newer.
async fn archive_attendance(
    tx: &mut Transaction<'static, Postgres>,
    meta: &SessionMeta,
    version: i64,
) -> StoreResult<Option<Fresh>> {
    let networks: Vec<String> = meta.networks.iter().map(ToString::to_string).collect();
    // `xmax` is 0 exactly for a row this statement inserted rather than updated.
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO attendances (attendance_id, lesson_name, teacher_school_number, teacher_full_name,
               start_time, end_time, security_option, networks, is_deleted, deletion_reason, deletion_time,
               live_version, check_in_code_period_secs)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (attendance_id) DO UPDATE SET
               lesson_name = EXCLUDED.lesson_name,
               end_time = EXCLUDED.end_time,
               networks = EXCLUDED.networks,
               is_deleted = EXCLUDED.is_deleted,
               deletion_reason = EXCLUDED.deletion_reason,
               deletion_time = EXCLUDED.deletion_time,
               live_version = EXCLUDED.live_version
           WHERE attendances.live_version < EXCLUDED.live_version
           RETURNING (xmax = 0) AS "inserted!""#,
        meta.attendance_id,
        meta.lesson_name,
        meta.teacher_school_number,
        meta.teacher_full_name,
        to_time(meta.start_ms),
        to_time(meta.end_ms),
        meta.security_option.number() as i16,
        &networks,
        meta.is_deleted,
        meta.deletion_reason,
        meta.deletion_time_ms.map(to_time),
        version,
        meta.check_in_code_period_secs.and_then(|secs| i32::try_from(secs).ok()),
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.map(|inserted| if inserted { Fresh::Inserted } else { Fresh::Updated }))
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

/// `seq` -1 marks an edit of the archive itself (no live version).
async fn insert_audit(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
    entries: &[(i64, AuditEntry)],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids = vec![id; entries.len()];
    let students: Vec<Option<&str>> = entries.iter().map(|(_, e)| e.student_number.as_deref()).collect();
    let actors: Vec<&str> = entries.iter().map(|(_, e)| e.actor.as_str()).collect();
    let actions: Vec<&str> = entries.iter().map(|(_, e)| e.action.as_str()).collect();
    let olds: Vec<Option<serde_json::Value>> = entries.iter().map(|(_, e)| e.old_value.clone()).collect();
    let news: Vec<Option<serde_json::Value>> = entries.iter().map(|(_, e)| e.new_value.clone()).collect();
    let reasons: Vec<Option<&str>> = entries.iter().map(|(_, e)| e.reason.as_deref()).collect();
    let ats: Vec<DateTime<Utc>> = entries.iter().map(|(_, e)| to_time(e.at_ms)).collect();
    let seqs: Vec<Option<i64>> = entries.iter().map(|(seq, _)| (*seq >= 0).then_some(*seq)).collect();
    sqlx::query!(
        r#"INSERT INTO audit_log (attendance_id, student_number, actor, action, old_value, new_value,
               reason, at, live_seq)
           SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[],
                                $7::text[], $8::timestamptz[], $9::int8[])
           ON CONFLICT (attendance_id, live_seq) DO NOTHING"#,
        &ids,
        &students as &[Option<&str>],
        &actors as &[&str],
        &actions as &[&str],
        &olds as &[Option<serde_json::Value>],
        &news as &[Option<serde_json::Value>],
        &reasons as &[Option<&str>],
        &ats,
        &seqs as &[Option<i64>],
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// i64::MAX ms is past what PostgreSQL stores; the first page asks for
/// "before the end of time" with a date it can hold.
fn to_time_clamped(ms: i64) -> DateTime<Utc> {
    to_time(ms.min(253_402_300_799_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_quote_text_and_mark_nulls() {
        let mut record = Record::attended("s1", "Zoë \"Z\" O'Neil, Jr.", 1_780_000_000_123);
        record.fail_reason = None;
        let mut out = String::new();
        csv_row(&mut out, Uuid::nil(), 7, &record);
        assert_eq!(
            out,
            "00000000-0000-0000-0000-000000000000,\"s1\",\"Zoë \"\"Z\"\" O'Neil, Jr.\",true,\
             \"2026-05-28T20:26:40.123+00:00\",\\N,false,\\N,\\N,false,7,\\N\n"
        );
    }

    #[test]
    fn copy_rows_carry_the_fail_code_by_name() {
        let record = Record::attended("s1", "Ada", 0).failed_by_teacher("WIFI_FAILED: spoof");
        let mut out = String::new();
        csv_row(&mut out, Uuid::nil(), 7, &record);
        assert!(out.ends_with(",\"WIFI_FAILED: spoof\",false,\\N,\\N,true,7,\"TEACHER_DECISION\"\n"), "{out}");
    }
}
