//! ATTN on a Redis Cluster: the cluster `tests/cluster/run.sh` starts on
//! loopback, and a test environment with every service twice on it.
//!
//! The cluster's URL comes from `ATTN_TEST_REDIS_CLUSTER_URL`; without it
//! the tests fail, saying to run `tests/run.sh cluster`. Tests that change
//! the cluster (stop a node, change a setting) take it
//! [`ClusterAccess::Exclusive`]ly; the others share it, and wait until it
//! is whole again first.

use std::{net::SocketAddr, path::PathBuf, sync::LazyLock, time::Duration};

use fred::{
    clients::Client,
    interfaces::ClientLike,
    prelude::{Builder, Config},
    types::{CustomCommand, InfoKind},
};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{
    AttendanceReplica, Clients, ServiceProcess, Standin, SweeperReplica, TEST_INTERNAL_TOKEN, TestEnv, TestOptions,
};

pub const CLUSTER_URL_VAR: &str = "ATTN_TEST_REDIS_CLUSTER_URL";
pub const CLUSTER_DIR_VAR: &str = "ATTN_TEST_REDIS_CLUSTER_DIR";

/// How long the cluster may take to be whole again (failover, a node rejoining).
const HEAL: Duration = Duration::from_secs(60);

/// The Redis Cluster of this test run.
#[derive(Debug, Clone)]
pub struct RedisCluster {
    url: String,
    /// `host:port` of every node named in the URL.
    nodes: Vec<String>,
    /// Where each node's `redis.conf` is (`<dir>/<port>/redis.conf`).
    dir: Option<PathBuf>,
}

impl RedisCluster {
    /// The cluster named by `ATTN_TEST_REDIS_CLUSTER_URL`; fails the test without it.
    pub fn from_env() -> Self {
        let url = std::env::var(CLUSTER_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{CLUSTER_URL_VAR} is not set: these tests run ATTN on a Redis Cluster; run them with \
                 `tests/run.sh cluster` (or tests/cluster/run.sh), which starts one on loopback and sets it"
            )
        });
        let nodes = nodes_of(&url);
        assert!(
            !nodes.is_empty(),
            "{CLUSTER_URL_VAR}={url} names no node (redis-cluster://host:port?node=host:port&...)"
        );
        let dir = std::env::var_os(CLUSTER_DIR_VAR).map(PathBuf::from);
        Self { url, nodes, dir }
    }

    /// For `ATTN_REDIS_URL`: `redis-cluster://host:port?node=host:port&...`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// One `INFO <section>` answer of one node, or `None` if it does not answer.
    pub async fn info(&self, node: &str, section: InfoKind) -> Option<String> {
        let client = node_client(node).await?;
        let info = client.info::<String>(Some(section)).await.ok();
        let _ = client.quit().await;
        info
    }

    /// One node's `CLUSTER INFO` (`cluster_state:ok`, ...), or `None` if it does not answer.
    pub async fn cluster_info(&self, node: &str) -> Option<String> {
        let client = node_client(node).await?;
        let info =
            client.custom::<String, _>(CustomCommand::new_static("CLUSTER", None, false), vec!["INFO"]).await.ok();
        let _ = client.quit().await;
        info
    }

    /// The nodes that answer and say they are masters.
    pub async fn masters(&self) -> Vec<String> {
        let mut masters = Vec::new();
        for node in &self.nodes {
            if let Some(info) = self.info(node, InfoKind::Replication).await
                && field(&info, "role") == Some("master")
            {
                masters.push(node.clone());
            }
        }
        masters
    }

    /// The master serving `key` (`host:port`).
    pub async fn master_of(&self, key: &str) -> String {
        for node in self.masters().await {
            let Some(client) = node_client(&node).await else { continue };
            let answer = client.custom::<i64, _>(CustomCommand::new_static("EXISTS", None, false), vec![key]).await;
            let _ = client.quit().await;
            match answer {
                Ok(_) => return node,
                Err(err) if err.details().contains("MOVED") => {
                    if let Some(owner) = err.details().split_whitespace().last() {
                        return owner.to_owned();
                    }
                }
                Err(_) => {}
            }
        }
        panic!("no master of the cluster ({:?}) says where {key} is", self.nodes)
    }

    /// The masters where some client subscribes to `channel` (`PUBSUB
    /// NUMSUB` is per node on a cluster: it counts that node's subscribers).
    pub async fn subscribed_at(&self, channel: &str) -> Vec<String> {
        let mut nodes = Vec::new();
        for node in self.masters().await {
            let Some(client) = node_client(&node).await else { continue };
            let answer = client
                .custom::<Vec<fred::types::Value>, _>(
                    CustomCommand::new_static("PUBSUB", None, false),
                    vec!["NUMSUB", channel],
                )
                .await;
            let _ = client.quit().await;
            if answer.ok().and_then(|reply| reply.get(1).and_then(fred::types::Value::as_i64)).unwrap_or(0) > 0 {
                nodes.push(node);
            }
        }
        nodes
    }

    /// The replica that follows `master` (`host:port`), from the master's `INFO replication`.
    pub async fn replica_of(&self, master: &str) -> Option<String> {
        let info = self.info(master, InfoKind::Replication).await?;
        let slave = field(&info, "slave0")?;
        let part = |name: &str| slave.split(',').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='));
        Some(format!("{}:{}", part("ip")?, part("port")?))
    }

    /// Stops `node` the hard way (SIGKILL to the pid it reports): no goodbye
    /// to clients or to the rest of the cluster.
    pub async fn kill(&self, node: &str) {
        let info = self.info(node, InfoKind::Server).await.unwrap_or_else(|| panic!("{node} does not answer"));
        let pid = field(&info, "process_id").unwrap_or_else(|| panic!("{node} reports no process_id"));
        let status = std::process::Command::new("kill").args(["-KILL", pid]).status().expect("`kill` runs");
        assert!(status.success(), "kill -KILL {pid} ({node}) failed");
        crate::eventually(Duration::from_secs(10), &format!("{node} to stop answering"), || async {
            node_client(node).await.is_none().then_some(())
        })
        .await;
    }

    /// Starts a node stopped by [`Self::kill`] again from its config file; it
    /// rejoins as a replica. Returns once the cluster is whole again.
    pub async fn restart(&self, node: &str) {
        let dir = self.dir.as_ref().unwrap_or_else(|| {
            panic!("{CLUSTER_DIR_VAR} is not set, so {node} cannot be started again; run `tests/run.sh cluster`")
        });
        let port = node.rsplit(':').next().expect("host:port");
        let config = dir.join(port).join("redis.conf");
        let status = std::process::Command::new("redis-server")
            .arg(&config)
            .status()
            .unwrap_or_else(|err| panic!("redis-server {} could not be run: {err}", config.display()));
        assert!(status.success(), "redis-server {} failed", config.display());
        self.wait_whole(HEAL).await;
    }

    /// Waits until `replica` says it is a master (its master failed over to
    /// it) and every node that answers says `cluster_state:ok`.
    pub async fn wait_promoted(&self, replica: &str, timeout: Duration) {
        crate::eventually(timeout, &format!("{replica} to be promoted to master and the cluster to be ok"), || async {
            let info = self.info(replica, InfoKind::Replication).await?;
            if field(&info, "role") != Some("master") {
                return None;
            }
            for node in &self.nodes {
                if let Some(cluster) = self.cluster_info(node).await
                    && field(&cluster, "cluster_state") != Some("ok")
                {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// Waits until every node answers, says `cluster_state:ok`, and every
    /// master has an online replica (a stopped node back and in sync).
    pub async fn wait_whole(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let problem = self.problem().await;
            let Some(problem) = problem else { return };
            if tokio::time::Instant::now() >= deadline {
                panic!("the Redis Cluster is not whole after {timeout:?}: {problem}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What keeps the cluster from being whole, if anything.
    async fn problem(&self) -> Option<String> {
        for node in &self.nodes {
            let Some(cluster) = self.cluster_info(node).await else {
                return Some(format!("{node} does not answer"));
            };
            if field(&cluster, "cluster_state") != Some("ok") {
                return Some(format!("{node} says {:?}", field(&cluster, "cluster_state")));
            }
            let Some(replication) = self.info(node, InfoKind::Replication).await else {
                return Some(format!("{node} does not answer"));
            };
            match field(&replication, "role") {
                Some("master") if !field(&replication, "slave0").is_some_and(|s| s.contains("state=online")) => {
                    return Some(format!("master {node} has no replica online"));
                }
                Some("slave") if field(&replication, "master_link_status") != Some("up") => {
                    return Some(format!("replica {node} is not in sync with its master"));
                }
                _ => {}
            }
        }
        None
    }

    /// `CONFIG SET <name> <value>` on one node.
    pub async fn config_set(&self, node: &str, name: &str, value: &str) {
        let client = node_client(node).await.unwrap_or_else(|| panic!("{node} does not answer"));
        let _: String = client
            .custom(CustomCommand::new_static("CONFIG", None, false), vec!["SET", name, value])
            .await
            .unwrap_or_else(|err| panic!("CONFIG SET {name} {value} on {node}: {err}"));
        let _ = client.quit().await;
    }
}

/// The `host:port`s of a `redis-cluster://host:port?node=host:port&node=...` URL.
fn nodes_of(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (first, query) = rest.split_once('?').unwrap_or((rest, ""));
    let first = first.rsplit('@').next().unwrap_or(first).trim_end_matches('/');
    std::iter::once(first.to_owned())
        .chain(query.split('&').filter_map(|pair| pair.strip_prefix("node=")).map(str::to_owned))
        .filter(|node| !node.is_empty())
        .collect()
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
}

/// A plain connection to one node (no cluster routing, no reconnecting), or
/// `None` if it does not answer within a second.
async fn node_client(node: &str) -> Option<Client> {
    let config = Config::from_url(&format!("redis://{node}")).ok()?;
    let client = Builder::from_config(config)
        .with_connection_config(|conn| {
            conn.connection_timeout = Duration::from_millis(500);
            conn.internal_command_timeout = Duration::from_millis(500);
            conn.max_command_attempts = 1;
        })
        .with_performance_config(|perf| perf.default_command_timeout = Duration::from_secs(1))
        .build()
        .ok()?;
    match tokio::time::timeout(Duration::from_secs(1), client.init()).await {
        Ok(Ok(_)) => Some(client),
        _ => {
            let _ = client.quit().await;
            None
        }
    }
}

/// Tests that change the cluster run alone; the others run side by side.
static TOPOLOGY: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterAccess {
    /// The test leaves the cluster as it found it.
    Shared,
    /// The test stops nodes or changes settings: no other cluster test runs meanwhile.
    Exclusive,
}

enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// One test's ATTN on the cluster: two attendance-service replicas (A is
/// `env`'s own), two verification-services (A's and B's), two
/// sweeper-services with their schedulers on (every second), and the
/// stand-in face gateway; its own database and key prefix, as every test.
pub struct ClusterEnv {
    pub env: TestEnv,
    pub replica_b: AttendanceReplica,
    pub verification_b: SocketAddr,
    pub sweepers: Vec<SweeperReplica>,
    pub standin: Standin,
    pub cluster: RedisCluster,
    // Last: released after everything above has stopped.
    _guard: Guard,
}

impl ClusterEnv {
    pub async fn start(access: ClusterAccess) -> Self {
        Self::start_with(access, |_| {}).await
    }

    /// Starts everything after `adjust` has changed the settings replica A
    /// and verification-service A start with (B copies them, pointed at
    /// verification-service B).
    pub async fn start_with(access: ClusterAccess, adjust: impl FnOnce(&mut TestOptions)) -> Self {
        let cluster = RedisCluster::from_env();
        let guard = match access {
            ClusterAccess::Shared => Guard::Shared(TOPOLOGY.read().await),
            ClusterAccess::Exclusive => Guard::Exclusive(TOPOLOGY.write().await),
        };
        cluster.wait_whole(HEAL).await;
        let standin = Standin::start(Duration::from_millis(200)).await;
        let (gateway, photos) = (standin.url(), standin.photos_url());
        let env = TestEnv::start_on(cluster.url().to_owned(), move |opts| {
            opts.verification.face_gateway_url = gateway;
            opts.verification.face_retries = 1;
            opts.attendance.demo_photo_base_url = photos;
            // Only the revocation broadcast can stop a token a replica has cached.
            opts.attendance.token_cache_ms = 600_000;
            adjust(opts);
        })
        .await;
        let verification_b = env.start_verification_replica().await;
        let replica_b = env
            .start_attendance_replica_with(|config| config.verification_url = format!("http://{verification_b}"))
            .await;
        let mut sweepers = Vec::new();
        for verification in [env.verification_addr, verification_b] {
            let sweeper = env
                .start_sweeper_with(|config| {
                    config.scheduler_enabled = true;
                    config.sweep_attendances_schedule = "* * * * * *".into();
                    config.sweep_users_schedule = "* * * * * *".into();
                    config.check_face_results_schedule = "* * * * * *".into();
                    config.sweep_grace_secs = 0;
                    config.verification_url = format!("http://{verification}");
                })
                .await;
            sweepers.push(sweeper);
        }
        Self { env, replica_b, verification_b, sweepers, standin, cluster, _guard: guard }
    }

    /// attendance-service replica A, then B.
    pub fn replicas(&self) -> [SocketAddr; 2] {
        [self.env.attendance_addr, self.replica_b.addr]
    }

    pub async fn clients_a(&self) -> Clients {
        self.env.clients_of(self.env.attendance_addr).await
    }

    pub async fn clients_b(&self) -> Clients {
        self.env.clients_of(self.replica_b.addr).await
    }

    /// One more attendance-service replica, as a process of its own (the
    /// built binary, configured only by `ATTN_*` variables), so that a test
    /// can kill it outright: the same cluster, key prefix and database as
    /// replicas A and B, calling verification-service B.
    pub async fn start_attendance_process(&self) -> ServiceProcess {
        let mut settings: Vec<(&str, String)> = vec![
            ("ATTN_LOG", "info".into()),
            ("ATTN_REDIS_URL", self.cluster.url().to_owned()),
            ("ATTN_REDIS_KEY_PREFIX", self.env.key_prefix.clone()),
            ("ATTN_REDIS_POOL_SIZE", "4".into()),
            ("ATTN_DATABASE_MAX_CONNECTIONS", "5".into()),
            ("ATTN_INTERNAL_TOKEN", TEST_INTERNAL_TOKEN.into()),
            ("ATTN_VERIFICATION_URL", format!("http://{}", self.verification_b)),
            ("ATTN_ATTENDANCE_METRICS_ADDR", "127.0.0.1:0".into()),
            // Every test client comes from 127.0.0.1, as for A and B.
            ("ATTN_LOGIN_ATTEMPTS_PER_MINUTE", "10000".into()),
            ("ATTN_ATTEND_ATTEMPTS_PER_MINUTE", "10000".into()),
            ("ATTN_TOKEN_CACHE_MS", "600000".into()),
        ];
        settings.extend(self.env.database_settings());
        ServiceProcess::start("attendance-service", "ATTN_ATTENDANCE_ADDR", &settings).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_node() {
        assert_eq!(
            nodes_of("redis-cluster://127.0.0.1:7101?node=127.0.0.1:7102&node=127.0.0.1:7103"),
            ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
        );
        assert_eq!(nodes_of("redis-cluster://user:pw@10.0.0.1:6379/"), ["10.0.0.1:6379"]);
    }
}
