//! One test's private ATTN: its own database, key prefix and services.

use std::{future::Future, net::SocketAddr, time::Duration};

use attn_domain::Clock;
use attn_runtime::Shutdown;
use attn_store::{Archive, Keys, LiveStore, archive::Pooler, config::DatabaseConfig, redis::RedisSettings};
use fred::{
    interfaces::{ClientLike, KeysInterface},
    types::scan::Scanner,
};
use sqlx::{Connection, PgConnection};
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use crate::Clients;

pub(crate) fn redis_url() -> String {
    std::env::var("ATTN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn admin_database_url() -> String {
    std::env::var("ATTN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A connection pooler in transaction mode in front of the tests' PostgreSQL
/// (`ATTN_TEST_POOLER_URL`, e.g. the PgBouncer `tests/pgbouncer/run.sh`
/// starts). When set, the services reach their database through it, as a
/// campus runs them; creating and dropping databases and the test's own
/// checks still go straight to PostgreSQL.
pub(crate) fn pooler_url() -> Option<String> {
    std::env::var("ATTN_TEST_POOLER_URL").ok().filter(|url| !url.trim().is_empty())
}

/// Where the tests' Redis listens (`host:port`), for a [`crate::Proxy`] in front of it.
pub fn redis_server() -> String {
    crate::proxy::server_of(&redis_url())
}

/// Where the services' PostgreSQL listens (`host:port`: the pooler, if the
/// tests run through one), for a [`crate::Proxy`] in front of it.
pub fn postgres_server() -> String {
    crate::proxy::server_of(&pooler_url().unwrap_or_else(admin_database_url))
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a PostgreSQL URL looks like postgres://user@host:port/database");
    format!("{server}/{name}")
}

/// The database `name`, straight on PostgreSQL.
fn database_url_for(name: &str) -> String {
    with_database(&admin_database_url(), name)
}

/// The database `name` as the services reach it: through the pooler, if any.
fn service_database_url_for(name: &str) -> String {
    with_database(&pooler_url().unwrap_or_else(admin_database_url), name)
}

/// Points a service's database settings at the test database `name`, as a
/// campus would: behind a pooler, `ATTN_DATABASE_POOLER=transaction` and
/// migrations straight to PostgreSQL (`ATTN_DATABASE_MIGRATION_URL`).
pub(crate) fn use_database(database: &mut DatabaseConfig, name: &str) {
    database.database_url = service_database_url_for(name).into();
    if pooler_url().is_some() {
        database.database_pooler = Pooler::Transaction;
        database.database_migration_url = Some(database_url_for(name).into());
    }
}

/// The services' shared secret in the tests (`ATTN_INTERNAL_TOKEN`).
pub const TEST_INTERNAL_TOKEN: &str = "attn-test-internal-token";

/// Changes to the services' settings for one test. They arrive filled in
/// with this test's own database URL and key prefix, so `adjust` can route
/// them elsewhere (e.g. through a [`crate::Proxy`] with [`crate::Proxy::reroute`]).
pub struct TestOptions {
    pub attendance: attendance_service::Config,
    pub verification: verification_service::Config,
}

/// Another attendance-service replica of a [`TestEnv`], which can be
/// stopped on its own (it also stops with the environment).
pub struct AttendanceReplica {
    pub addr: SocketAddr,
    /// Where this replica serves `/metrics`.
    pub metrics_addr: SocketAddr,
    pub shutdown: Shutdown,
}

pub struct TestEnv {
    pub attendance_addr: SocketAddr,
    pub verification_addr: SocketAddr,
    /// Where each service serves `/metrics` (its admin listener).
    pub attendance_metrics_addr: SocketAddr,
    pub verification_metrics_addr: SocketAddr,
    pub database_name: String,
    /// The test's database as the services reach it (through the pooler, if any).
    pub database_url: String,
    pub key_prefix: String,
    /// The time attendance-service and the sweepers decide by: the wall
    /// clock until a test calls `clock.advance(..)` to skip ahead (a
    /// session's end, a face check falling due) instead of waiting.
    pub clock: Clock,
    /// Direct store access, for arranging and checking what the API can't show
    /// (straight to PostgreSQL, even when the services go through a pooler).
    pub live: LiveStore,
    pub archive: Archive,
    pub open_streams: Box<dyn Fn() -> usize + Send + Sync>,
    /// What attendance-service's sign-in password checks have done.
    pub password_checks: std::sync::Arc<attendance_service::CheckStats>,
    /// The settings attendance-service started with, for more replicas.
    attendance_config: attendance_service::Config,
    /// The settings verification-service started with, for more replicas.
    verification_config: verification_service::Config,
    /// The Redis this test's services use (the test's own view of it).
    redis_url: String,
    shutdown: Shutdown,
}

impl TestEnv {
    /// This test's database as settings for a service started as a process
    /// of its own: what [`use_database`] sets, as `ATTN_DATABASE_*` variables.
    pub fn database_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![("ATTN_DATABASE_URL", self.database_url.clone())];
        if pooler_url().is_some() {
            settings.push(("ATTN_DATABASE_POOLER", "transaction".into()));
            settings.push(("ATTN_DATABASE_MIGRATION_URL", database_url_for(&self.database_name)));
        }
        settings
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts verification- and attendance-service on loopback port 0 with
    /// demo accounts, after `adjust` has changed their settings.
    pub async fn start_with(adjust: impl FnOnce(&mut TestOptions)) -> Self {
        Self::start_on(redis_url(), adjust).await
    }

    /// As [`TestEnv::start_with`], on the Redis at `redis_url` (a
    /// `redis-cluster://` URL, say) instead of `ATTN_TEST_REDIS_URL`.
    pub async fn start_on(redis_url: String, adjust: impl FnOnce(&mut TestOptions)) -> Self {
        let database_name = format!("attn_test_{}", Uuid::new_v4().simple());
        let key_prefix = format!("attn-test-{}", Uuid::new_v4().simple());
        create_database(&database_name).await;
        let database_url = service_database_url_for(&database_name);

        let mut options = TestOptions {
            attendance: attendance_service::Config::default(),
            verification: verification_service::Config::default(),
        };
        options.verification.verification_addr = "127.0.0.1:0".into();
        // Many services share one test process: each its own admin port.
        options.verification.verification_metrics_addr = "127.0.0.1:0".into();
        // Production rules: the services refuse to start without it.
        options.verification.internal_token = Some(TEST_INTERNAL_TOKEN.into());
        // Tests serve reference photos from the stand-in on loopback, which
        // is otherwise refused as an internal address.
        options.verification.face_photo_allowed_hosts = "127.0.0.1".into();
        let attendance = &mut options.attendance;
        attendance.attendance_addr = "127.0.0.1:0".into();
        attendance.attendance_metrics_addr = "127.0.0.1:0".into();
        attendance.internal_token = Some(TEST_INTERNAL_TOKEN.into());
        attendance.demo_accounts = true;
        attendance.redis.redis_url = redis_url.clone().into();
        attendance.redis.redis_key_prefix = key_prefix.clone();
        attendance.redis.redis_pool_size = 4;
        use_database(&mut attendance.database, &database_name);
        attendance.database.database_max_connections = 5;
        // A connection is waited for far past any stall of a busy machine
        // (the production 3 s fails a test whose machine paused as a service
        // starts); the tests of a PostgreSQL outage set their own.
        attendance.database.database_timeout_ms = 30_000;
        // Every test client comes from 127.0.0.1; per-address limits would trip.
        attendance.login_attempts_per_minute = 10_000;
        attendance.attend_attempts_per_minute = 10_000;
        attendance.server.shutdown_grace_ms = 2_000;
        adjust(&mut options);

        let shutdown = Shutdown::new();
        let verification_config = options.verification.clone();
        let verification =
            verification_service::App::build(options.verification).await.expect("verification-service starts");
        let verification_addr = verification.local_addr();
        let verification_metrics_addr = verification.metrics_addr().expect("the tests serve /metrics");
        crate::servers::spawn_watched(
            format!("verification-service at {verification_addr}"),
            shutdown.clone(),
            verification.run(shutdown.clone()),
        );

        if options.attendance.verification_url == attendance_service::Config::default().verification_url {
            options.attendance.verification_url = format!("http://{verification_addr}");
        }
        let keys = Keys::new(&options.attendance.redis.redis_key_prefix).expect("valid prefix");
        // The test's own view goes straight to Redis, even when the service's goes through a proxy.
        let redis = RedisSettings { url: redis_url.clone().into(), ..options.attendance.redis.store_settings() };
        let attendance_config = options.attendance.clone();
        let clock = Clock::adjustable();
        let app = attendance_service::App::build_with_clock(options.attendance, shutdown.clone(), clock.clone())
            .await
            .unwrap_or_else(|err| panic!("attendance-service did not start: {err:#}"));
        let attendance_addr = app.local_addr();
        let attendance_metrics_addr = app.metrics_addr().expect("the tests serve /metrics");
        let open_streams = Box::new(app.open_streams());
        let password_checks = app.password_check_stats();
        crate::servers::spawn_watched(format!("attendance-service at {attendance_addr}"), shutdown.clone(), app.run());

        let live = LiveStore::connect(&redis, keys)
            .await
            .unwrap_or_else(|err| panic!("Redis is not reachable at {redis_url}: {err}"));
        let archive = Archive::from_pool(
            sqlx::PgPool::connect(&database_url_for(&database_name))
                .await
                .unwrap_or_else(|err| panic!("test database is not reachable: {err}")),
        );
        Self {
            attendance_addr,
            verification_addr,
            attendance_metrics_addr,
            verification_metrics_addr,
            database_name,
            database_url,
            key_prefix,
            clock,
            live,
            archive,
            open_streams,
            password_checks,
            attendance_config,
            verification_config,
            redis_url,
            shutdown,
        }
    }

    /// The settings attendance-service started with (demo accounts off),
    /// for a test to change and build another from.
    pub fn attendance_config(&self) -> attendance_service::Config {
        attendance_service::Config { demo_accounts: false, ..self.attendance_config.clone() }
    }

    /// Starts another attendance-service replica on the same Redis prefix,
    /// database and verification-service, and returns its address.
    pub async fn start_attendance_replica(&self) -> SocketAddr {
        self.start_attendance_replica_with(|_| {}).await.addr
    }

    /// Starts another attendance-service replica (same Redis prefix and
    /// database) after `adjust` has changed its settings, with a shutdown of
    /// its own.
    pub async fn start_attendance_replica_with(
        &self,
        adjust: impl FnOnce(&mut attendance_service::Config),
    ) -> AttendanceReplica {
        crate::servers::check();
        let mut config = self.attendance_config();
        adjust(&mut config);
        let shutdown = self.linked_shutdown();
        let app = attendance_service::App::build_with_clock(config, shutdown.clone(), self.clock.clone())
            .await
            .unwrap_or_else(|err| panic!("another attendance-service did not start: {err:#}"));
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr().expect("the tests serve /metrics");
        crate::servers::spawn_watched(format!("attendance-service replica at {addr}"), shutdown.clone(), app.run());
        AttendanceReplica { addr, metrics_addr, shutdown }
    }

    /// Starts another verification-service with the first one's settings
    /// (on a port of its own) and returns its address.
    pub async fn start_verification_replica(&self) -> SocketAddr {
        let app = verification_service::App::build(self.verification_config.clone())
            .await
            .unwrap_or_else(|err| panic!("another verification-service did not start: {err:#}"));
        let addr = app.local_addr();
        let shutdown = self.linked_shutdown();
        crate::servers::spawn_watched(
            format!("verification-service replica at {addr}"),
            shutdown.clone(),
            app.run(shutdown),
        );
        addr
    }

    /// A shutdown of its own that also trips with the environment's.
    pub(crate) fn linked_shutdown(&self) -> Shutdown {
        let own = Shutdown::new();
        let env_shutdown = self.shutdown();
        let linked = own.clone();
        tokio::spawn(async move {
            env_shutdown.triggered().await;
            linked.trigger();
        });
        own
    }

    pub async fn channel(&self) -> Channel {
        connect(self.attendance_addr).await
    }

    pub async fn verification_channel(&self) -> Channel {
        connect(self.verification_addr).await
    }

    pub async fn clients(&self) -> Clients {
        self.clients_of(self.attendance_addr).await
    }

    /// Clients of the attendance-service replica at `addr`.
    pub async fn clients_of(&self, addr: SocketAddr) -> Clients {
        Clients { channel: connect(addr).await }
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub fn redis_settings(&self) -> RedisSettings {
        RedisSettings { url: self.redis_url.clone().into(), pool_size: 2, command_timeout: Duration::from_secs(2) }
    }
}

pub(crate) async fn connect(server: SocketAddr) -> Channel {
    crate::servers::check();
    Endpoint::from_shared(format!("http://{server}"))
        .expect("valid address")
        .connect()
        .await
        .unwrap_or_else(|err| panic!("the ATTN service at {server} refuses connections: {err}"))
}

async fn admin_connection() -> PgConnection {
    let url = admin_database_url();
    PgConnection::connect(&url).await.unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url} ({err}). Start it (see the README, 'Running the tests') \
             or set ATTN_TEST_DATABASE_URL."
        )
    })
}

async fn create_database(name: &str) {
    let mut admin = admin_connection().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
}

impl Drop for TestEnv {
    /// Stops the services and removes the test's database and Redis keys.
    /// Runs on its own thread: the test's runtime is already winding down.
    fn drop(&mut self) {
        // A server that stopped on its own fails the test, even one that
        // otherwise passed; in a test already failing, it is said beside.
        let stopped = crate::servers::report();
        self.shutdown.trigger();
        let name = self.database_name.clone();
        let prefix = self.key_prefix.clone();
        let settings = self.redis_settings();
        let cleanup = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for cleanup");
            runtime.block_on(async move {
                let mut admin = admin_connection().await;
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await {
                    eprintln!("could not drop test database {name}: {err}");
                }
                if let Err(err) = delete_keys(&settings, &prefix).await {
                    eprintln!("could not delete Redis keys {prefix}:*: {err}");
                }
            });
        });
        let _ = cleanup.join();
        if let Some(stopped) = stopped {
            if std::thread::panicking() {
                eprintln!("also: {stopped}");
            } else {
                panic!("{stopped}");
            }
        }
    }
}

impl TestEnv {
    /// Every key matching `pattern` (tests only: SCAN is never used in the services).
    pub async fn scan_keys(&self, pattern: &str) -> Vec<String> {
        crate::servers::check();
        scan(self.live.pool().next(), pattern).await.expect("Redis answers SCAN")
    }
}

async fn scan(client: &fred::clients::Client, pattern: &str) -> anyhow::Result<Vec<String>> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = Vec::new();
    // On a cluster, every primary's share of the keys.
    let mut scan = if client.is_clustered() {
        Box::pin(client.scan_cluster(pattern, Some(1000), None))
            as std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>>
    } else {
        Box::pin(client.scan(pattern, Some(1000), None))
    };
    while let Some(mut page) = scan.try_next().await? {
        if let Some(results) = page.take_results() {
            keys.extend(results.into_iter().filter_map(|k| k.into_string()));
        }
    }
    Ok(keys)
}

/// Tests only: SCAN is fine here, never in the services.
async fn delete_keys(settings: &RedisSettings, prefix: &str) -> anyhow::Result<()> {
    let pool = attn_store::redis::connect_pool(settings).await?;
    let client = pool.next().clone();
    let keys = scan(&client, &format!("{prefix}:*")).await?;
    for chunk in keys.chunks(500) {
        // One DEL per key: on a cluster the keys of one chunk live in many slots.
        let pipeline = client.pipeline();
        for key in chunk {
            let _: () = pipeline.del(key.as_str()).await?;
        }
        let _: Vec<i64> = pipeline.all().await?;
    }
    let _ = pool.quit().await;
    Ok(())
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with
/// `what`; fails at once, naming it, if a server the test started stops on
/// its own meanwhile.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        crate::servers::check();
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
