//! The audit trail in the archive: the live edits the sweep moves over,
//! and the edits made to the archive itself.

use attn_domain::AuditEntry;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    StoreResult,
    archive::{Archive, to_ms, to_time},
};

impl Archive {
    /// A session's audit trail in the archive, oldest first, each entry
    /// with the live version it was made at (`None`: an edit of the archive).
    pub async fn audit_trail(&self, id: Uuid) -> StoreResult<Vec<(Option<i64>, AuditEntry)>> {
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT student_number, actor, action, old_value, new_value, reason, at, live_seq
               FROM audit_log WHERE attendance_id = $1 ORDER BY at, audit_id"#,
            id
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let entry = AuditEntry {
                    actor: row.actor,
                    action: row.action,
                    student_number: row.student_number,
                    old_value: row.old_value,
                    new_value: row.new_value,
                    reason: row.reason,
                    at_ms: to_ms(row.at),
                };
                (row.live_seq, entry)
            })
            .collect())
    }
}

/// `seq` -1 marks an edit of the archive itself (no live version).
pub(super) async fn insert_audit(
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
