//! Does the Redis ATTN runs on keep what ATTN puts there?
//!
//! Live sessions, sign-ins and the face queue exist only in Redis until the
//! sweeper archives them. A Redis that evicts keys under memory pressure
//! would drop a check-in or a whole session without a word, so outside
//! development mode the services refuse to run on one. Without an
//! append-only file or a replica, a restart or a lost node loses whatever
//! is live: worth a warning, since a campus may accept that risk.

use fred::{clients::Pool, interfaces::ClientLike};

use crate::{StoreError, StoreResult};

/// What `INFO` says about keeping data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durability {
    /// `maxmemory_policy`, e.g. `noeviction` or `allkeys-lru`.
    pub eviction_policy: Option<String>,
    /// `aof_enabled`.
    pub append_only: Option<bool>,
    /// `connected_slaves` of a primary; `None` when not reported.
    pub replicas: Option<u64>,
}

/// What to do about a Redis's [`Durability`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Why the services must not run on it (outside development mode).
    pub refusal: Option<String>,
    pub warnings: Vec<String>,
}

/// Reads the `field:value` lines of an `INFO` answer.
pub fn parse_info(info: &str) -> Durability {
    let field =
        |name: &str| info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':').map(str::trim));
    Durability {
        eviction_policy: field("maxmemory_policy").map(str::to_owned),
        append_only: field("aof_enabled").map(|value| value == "1"),
        replicas: field("connected_slaves").and_then(|value| value.parse().ok()),
    }
}

pub fn judge(durability: &Durability) -> Judgement {
    let mut judgement = Judgement::default();
    match durability.eviction_policy.as_deref() {
        Some("noeviction") => {}
        Some(policy) => {
            judgement.refusal = Some(format!(
                "Redis evicts keys under memory pressure (maxmemory-policy {policy}): live sessions, sign-ins and the \
                 face queue exist only in Redis and would be lost without a word; set maxmemory-policy noeviction \
                 (see deploy/README.md, \"Redis\")"
            ))
        }
        None => judgement.warnings.push(
            "Redis did not say its maxmemory-policy; ATTN needs noeviction (see deploy/README.md, \"Redis\")".into(),
        ),
    }
    if durability.append_only == Some(false) {
        judgement.warnings.push(
            "Redis keeps no append-only file (appendonly no): a Redis restart loses every live session, sign-in and \
             queued face check"
                .into(),
        );
    }
    if durability.replicas == Some(0) {
        judgement.warnings.push("Redis has no replica: losing its node loses everything live".into());
    }
    judgement
}

/// Asks Redis (`INFO`) how it keeps data: one answer from a single Redis;
/// on a Redis Cluster one from every master (`host:port`, answer), since
/// each master keeps its own share of the keys under its own settings and a
/// single `INFO` would describe whichever node it happened to reach.
pub async fn read(pool: &Pool) -> StoreResult<Vec<(Option<String>, Durability)>> {
    let client = pool.next();
    if !client.is_clustered() {
        let info: String = client.info(None).await?;
        return Ok(vec![(None, parse_info(&info))]);
    }
    // A clustered client holds one connection per master (the nodes that
    // serve slots), and only those.
    let mut masters = client.active_connections();
    if masters.is_empty() {
        return Err(StoreError::Unavailable { store: "Redis", detail: "connected to no master of the cluster".into() });
    }
    masters.sort_by_key(|server| server.to_string());
    let mut answers = Vec::with_capacity(masters.len());
    for master in masters {
        let info: String = client.with_cluster_node(master.clone()).info(None).await?;
        answers.push((Some(master.to_string()), parse_info(&info)));
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Memory\r\nused_memory:1024\r\nmaxmemory_policy:allkeys-lru\r\n\r\n# Persistence\r\n\
                        aof_enabled:0\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n";

    #[test]
    fn info_fields_are_read() {
        let durability = parse_info(INFO);
        assert_eq!(durability.eviction_policy.as_deref(), Some("allkeys-lru"));
        assert_eq!(durability.append_only, Some(false));
        assert_eq!(durability.replicas, Some(0));
        assert_eq!(parse_info(""), Durability::default());
    }

    #[test]
    fn a_redis_that_evicts_is_refused_by_name() {
        let judgement = judge(&parse_info(INFO));
        assert!(judgement.refusal.unwrap().contains("maxmemory-policy allkeys-lru"));
        assert_eq!(judgement.warnings.len(), 2, "no AOF, no replica");
    }

    #[test]
    fn noeviction_with_aof_and_a_replica_is_fine() {
        let durability =
            Durability { eviction_policy: Some("noeviction".into()), append_only: Some(true), replicas: Some(1) };
        assert_eq!(judge(&durability), Judgement::default());
    }

    #[test]
    fn an_unknown_policy_is_a_warning_not_a_refusal() {
        let judgement = judge(&Durability::default());
        assert!(judgement.refusal.is_none());
        assert_eq!(judgement.warnings.len(), 1);
    }
}
