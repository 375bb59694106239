//! Checks a service makes before it serves: is what it stands on safe to
//! stand on?

use anyhow::Context as _;
use attn_runtime::settings::ServerConfig;

use crate::{Archive, LiveStore, archive::Pooler, durability};

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

/// Brings PostgreSQL's schema up to date, and says at start what it did and
/// how the service's statements will reach PostgreSQL.
pub async fn prepare_postgres(archive: &Archive) -> anyhow::Result<()> {
    let migrated = archive
        .migrate()
        .await
        .with_context(|| format!("cannot prepare PostgreSQL ({})", archive.migration_setting()))?;
    tracing::info!(
        via = migrated.via,
        server = %migrated.server,
        applied = migrated.applied,
        schema_version = migrated.schema_version,
        "PostgreSQL schema is up to date ({} migrations applied now, over {})",
        migrated.applied,
        migrated.via
    );
    match archive.pooler() {
        Pooler::None => tracing::info!(
            pooler = "none",
            "PostgreSQL statements are prepared once per connection and cached (ATTN_DATABASE_POOLER=none: \
             PostgreSQL itself, or a pooler in session mode)"
        ),
        Pooler::Transaction => tracing::info!(
            pooler = "transaction",
            "PostgreSQL through a pooler in transaction mode (ATTN_DATABASE_POOLER=transaction): every statement \
             runs in a transaction that starts with DEALLOCATE ALL, and no prepared statement is cached"
        ),
    }
    Ok(())
}
