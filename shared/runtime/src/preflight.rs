//! Checks a service makes before it serves: is what it stands on safe to
//! stand on?

use attn_store::{LiveStore, durability};

use crate::settings::ServerConfig;

/// Refuses a Redis that may evict keys (outside development mode) and warns
/// about one without an append-only file or a replica. On a Redis Cluster
/// every master is asked: each keeps its own share of the keys.
pub async fn check_redis(live: &LiveStore, server: &ServerConfig) -> anyhow::Result<()> {
    let answers = match durability::read(live.pool()).await {
        Ok(answers) => answers,
        // Some managed services restrict INFO; that is not a reason to stop.
        Err(err) => {
            tracing::warn!(error = %err, "could not read Redis's settings (INFO); ATTN needs maxmemory-policy noeviction");
            return Ok(());
        }
    };
    let mut refusals = Vec::new();
    for (node, durability) in &answers {
        let judgement = durability::judge(durability);
        let on = |what: &str| match node {
            Some(node) => format!("{what} (cluster node {node})"),
            None => what.to_owned(),
        };
        for warning in &judgement.warnings {
            tracing::warn!("{}", on(warning));
        }
        if let Some(refusal) = judgement.refusal {
            refusals.push(on(&refusal));
        }
    }
    if refusals.is_empty() {
        return Ok(());
    }
    let refusal = refusals.join("; ");
    if server.dev_mode {
        tracing::warn!("{refusal} (running anyway: ATTN_DEV_MODE)");
        return Ok(());
    }
    anyhow::bail!("{refusal}; or set ATTN_DEV_MODE=true on a development machine")
}
