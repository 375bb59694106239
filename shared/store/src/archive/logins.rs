//! Sign-in history.

use super::{Archive, to_time};
use crate::{StoreResult, tokens::EndedSignIn};

impl Archive {
    /// Writes ended sign-ins; rows already written are skipped, so a retry
    /// after a crash writes nothing twice.
    pub async fn record_sign_ins(&self, ended: &[EndedSignIn]) -> StoreResult<u64> {
        if ended.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = ended.iter().map(|e| e.sign_in.login_id).collect();
        let numbers: Vec<&str> = ended.iter().map(|e| e.sign_in.school_number.as_str()).collect();
        let names: Vec<&str> = ended.iter().map(|e| e.sign_in.full_name.as_str()).collect();
        let roles: Vec<&str> = ended.iter().map(|e| e.sign_in.role.as_str()).collect();
        let started: Vec<_> = ended.iter().map(|e| to_time(e.sign_in.started_ms)).collect();
        let ended_at: Vec<_> = ended.iter().map(|e| to_time(e.ended_ms)).collect();
        let ended_by: Vec<&str> = ended.iter().map(|e| if e.logged_out { "logout" } else { "expiry" }).collect();
        let mut tx = self.begin().await?;
        sqlx::query!(
            r#"INSERT INTO users (school_number, full_name, role)
               SELECT DISTINCT ON (n) n, f, r FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(n, f, r)
               ON CONFLICT (school_number) DO NOTHING"#,
            &numbers as &[&str],
            &names as &[&str],
            &roles as &[&str],
        )
        .execute(&mut *tx)
        .await?;
        let written = sqlx::query!(
            r#"INSERT INTO login_history (login_id, school_number, role, started_at, ended_at, ended_by)
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[])
               ON CONFLICT (login_id) DO NOTHING"#,
            &ids,
            &numbers as &[&str],
            &roles as &[&str],
            &started,
            &ended_at,
            &ended_by as &[&str],
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(written)
    }
}
