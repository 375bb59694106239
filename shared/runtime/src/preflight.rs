//! Checks a service makes before it serves: is what it stands on safe to
//! stand on?

use attn_store::{LiveStore, durability};

use crate::settings::ServerConfig;

/// Refuses a Redis that may evict keys (outside development mode) and warns
/// about one without an append-only file or a replica.
pub async fn check_redis(live: &LiveStore, server: &ServerConfig) -> anyhow::Result<()> {
    let durability = match durability::read(live.pool()).await {
        Ok(durability) => durability,
        // Some managed services restrict INFO; that is not a reason to stop.
        Err(err) => {
            tracing::warn!(error = %err, "could not read Redis's settings (INFO); ATTN needs maxmemory-policy noeviction");
            return Ok(());
        }
    };
    let judgement = durability::judge(&durability);
    for warning in &judgement.warnings {
        tracing::warn!("{warning}");
    }
    match judgement.refusal {
        Some(refusal) if server.dev_mode => {
            tracing::warn!("{refusal} (running anyway: ATTN_DEV_MODE)");
            Ok(())
        }
        Some(refusal) => anyhow::bail!("{refusal}; or set ATTN_DEV_MODE=true on a development machine"),
        None => Ok(()),
    }
}
