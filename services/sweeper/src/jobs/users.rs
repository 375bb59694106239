//! `sweep_users`: archive sign-ins that expired or were logged out.
//!
//! Tokens expire in Redis by their TTL; their index entry stays until this
//! job has written the user and a row of sign-in history to PostgreSQL.
//! History rows are keyed by the sign-in's id, so a round that dies between
//! the commit and the cleanup writes nothing twice when it runs again.

use super::{Deps, Summary};

pub async fn sweep_users(deps: &Deps) -> Summary {
    let mut summary = Summary::default();
    let now = deps.clock.now_ms();
    let (ended, malformed) = match deps.tokens.ended(now, deps.settings.batch_size).await {
        Ok(found) => found,
        Err(err) => {
            summary.fail_round(&err);
            return summary;
        }
    };
    for (token_hash, err) in &malformed {
        // The hash only identifies the index entry; the token itself was never stored.
        tracing::error!(entry = %&token_hash[..12.min(token_hash.len())], error = %err, "unreadable sign-in left in the index");
        summary.fail_item(format!("sign-in {}: {err}", &token_hash[..12.min(token_hash.len())]));
    }
    if ended.is_empty() {
        return summary;
    }
    summary.add("sign_ins_found", ended.len() as u64);
    summary.add("logouts", ended.iter().filter(|e| e.logged_out).count() as u64);
    match deps.archive.record_sign_ins(&ended).await {
        Ok(written) => summary.add("history_rows_written", written),
        Err(err) => {
            summary.fail_round(&err);
            return summary;
        }
    }
    let hashes: Vec<String> = ended.into_iter().map(|e| e.token_hash).collect();
    if let Err(err) = deps.tokens.forget(&hashes).await {
        // Archived already; the next round finds them again and writes nothing twice.
        summary.fail_round(&err);
    }
    summary
}
