//! The sweeper's write of a finished session: its row, its records (by
//! COPY the first time, upserted after) and its live edits, in one
//! transaction that never lets an older snapshot replace a newer one.

use attn_domain::{AuditEntry, FailCode, Record, SessionMeta};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::audit::insert_audit;
use crate::{
    StoreError, StoreResult,
    archive::{Archive, to_time},
};

/// Everything the sweeper moves from Redis in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct SessionToArchive<'a> {
    pub meta: &'a SessionMeta,
    /// The session's live version when the snapshot was read.
    pub version: u64,
    pub records: &'a [Record],
    /// A course session's enrolled students when it started (number, full
    /// name); empty for a session without a course.
    pub enrolled: &'a [(String, String)],
    /// (the session version at the edit, the edit)
    pub audit: &'a [(i64, AuditEntry)],
}

/// What an archive write of a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// Written: the archive held an older version, or nothing (records written).
    Written(u64),
    /// Not written: the archive already holds this version or a newer one.
    Stale,
}

impl Archive {
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

        insert_enrolments(&mut tx, meta.attendance_id, session.enrolled).await?;
        insert_audit(&mut tx, meta.attendance_id, session.audit).await?;
        tx.commit().await?;
        Ok(Archived::Written(written))
    }
}

/// A course session's roster as it started. It never changes while the
/// session is live, so a session archived again finds it already there. A
/// name the live session did not keep (one started before the roster
/// hash) comes from the directory.
async fn insert_enrolments(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
    enrolled: &[(String, String)],
) -> StoreResult<()> {
    if enrolled.is_empty() {
        return Ok(());
    }
    let (numbers, names): (Vec<&str>, Vec<&str>) =
        enrolled.iter().map(|(number, name)| (number.as_str(), name.as_str())).unzip();
    sqlx::query!(
        r#"INSERT INTO attendance_enrolments (attendance_id, student_number, student_full_name)
           SELECT $1, e.n, COALESCE(NULLIF(e.f, ''), u.full_name, e.n)
           FROM UNNEST($2::text[], $3::text[]) AS e(n, f)
           LEFT JOIN users u ON u.school_number = e.n
           ON CONFLICT DO NOTHING"#,
        id,
        &numbers as &[&str],
        &names as &[&str],
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
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
             fail_code, excuse_reason) \
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
    out.push(',');
    optional(out, record.excuse_reason.as_deref());
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
    let excuses: Vec<Option<&str>> = records.iter().map(|r| r.excuse_reason.as_deref()).collect();
    let written = sqlx::query!(
        r#"INSERT INTO attendance_records (attendance_id, student_number, student_full_name,
                   is_attended, attendance_time, fail_reason, is_deleted, deletion_reason,
                   deletion_time, by_teacher, live_version, fail_code, excuse_reason)
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[],
                                    $6::text[], $7::bool[], $8::text[], $9::timestamptz[], $10::bool[],
                                    $11::int8[], $12::text[], $13::text[])
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
        &excuses as &[Option<&str>],
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(written)
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
               live_version, check_in_code_period_secs, course_code, allow_walk_ins, time_zone)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
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
        meta.course_code,
        meta.allow_walk_ins,
        meta.time_zone,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.map(|inserted| if inserted { Fresh::Inserted } else { Fresh::Updated }))
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
             \"2026-05-28T20:26:40.123+00:00\",\\N,false,\\N,\\N,false,7,\\N,\\N\n"
        );
    }

    #[test]
    fn copy_rows_carry_the_fail_code_by_name() {
        let record = Record::attended("s1", "Ada", 0).failed_by_teacher("WIFI_FAILED: spoof");
        let mut out = String::new();
        csv_row(&mut out, Uuid::nil(), 7, &record);
        assert!(out.ends_with(",\"WIFI_FAILED: spoof\",false,\\N,\\N,true,7,\"TEACHER_DECISION\",\\N\n"), "{out}");
    }
}
