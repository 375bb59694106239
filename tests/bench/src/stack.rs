//! The ATTN stack under test: started here as child processes (so each one
//! can be measured), or an already running one (`--target`).
//!
//! A started stack gets its own PostgreSQL database and Redis key prefix;
//! [`Stack::cleanup`] stops the processes, drops the database and deletes
//! the keys.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use attn_store::redis::RedisSettings;
use fred::{
    interfaces::{ClientLike, KeysInterface},
    types::scan::Scanner,
};
use futures::TryStreamExt;
use sqlx::{Connection, PgConnection};

use crate::{
    cli::Settings,
    clients::wait_until_serving,
    face_proxy::{FaceProxy, http_client},
    procs::{Proc, ProcSample},
};

/// How long a service may take to start (migrations included).
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Stack {
    pub attendance_url: String,
    pub sweeper_url: Option<String>,
    pub redis_url: String,
    pub key_prefix: String,
    /// The database the services use.
    pub database_url: String,
    pub face_proxy: Option<FaceProxy>,
    /// The stand-in face gateway itself (reference photos are fetched from it).
    pub standin_url: Option<String>,
    /// The started ATTN processes (empty with `--target`).
    pub procs: Vec<Proc>,
    pub bin_dir: PathBuf,
    /// A started stack's own database: (admin URL, name), dropped at cleanup.
    own_database: Option<(String, String)>,
}

/// Services started beside the stack: their processes and attendance-service's URL.
pub type Pair = (Vec<Proc>, String);

pub fn binary(bin_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir.join(name);
    if !path.is_file() {
        bail!(
            "{} not found: run `cargo build --release` first, pass --build, or point --bin-dir at the binaries",
            path.display()
        );
    }
    Ok(path)
}

/// A free loopback port, for a service that takes its address from the
/// environment. Another process could take it before the service binds;
/// [`spawn_grpc`] notices and tries again with a new one.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn database_url_for(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (server, _) = admin_url.rsplit_once('/').context("--database-url looks like postgres://user@host:port/db")?;
    Ok(format!("{server}/{name}"))
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl Stack {
    pub async fn start(settings: &Settings, run_id: &str, log_dir: &Path) -> anyhow::Result<Self> {
        if let Some(target) = &settings.target {
            return Self::target(settings, target).await;
        }
        let bin_dir = settings.bin_dir.clone();
        let database_name = format!("attn_bench_{run_id}");
        let mut admin = PgConnection::connect(&settings.database_url)
            .await
            .with_context(|| format!("PostgreSQL is not reachable at {}", settings.database_url))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{database_name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {database_name}"))?;
        let mut stack = Self {
            attendance_url: String::new(),
            sweeper_url: None,
            redis_url: settings.redis_url.clone(),
            key_prefix: format!("attn-bench-{run_id}"),
            database_url: database_url_for(&settings.database_url, &database_name)?,
            face_proxy: None,
            standin_url: None,
            procs: Vec::new(),
            bin_dir,
            own_database: Some((settings.database_url.clone(), database_name)),
        };
        // From here on, a failure still cleans up what was started.
        if let Err(err) = stack.start_processes(settings, log_dir).await {
            stack.cleanup().await;
            return Err(err);
        }
        Ok(stack)
    }

    /// What every started service is given, before its own settings.
    fn common_env(&self) -> Vec<(String, String)> {
        env(&[
            ("ATTN_LOG", "warn"),
            ("ATTN_LOG_FORMAT", "json"),
            ("ATTN_REDIS_URL", &self.redis_url),
            ("ATTN_REDIS_KEY_PREFIX", &self.key_prefix),
            ("ATTN_DATABASE_URL", &self.database_url),
            // Production rules: the services refuse to start without one.
            ("ATTN_INTERNAL_TOKEN", "attn-bench-internal-token"),
            // Admin listeners on free ports: a running stack may hold 9101-9103.
            ("ATTN_ATTENDANCE_METRICS_ADDR", "127.0.0.1:0"),
            ("ATTN_VERIFICATION_METRICS_ADDR", "127.0.0.1:0"),
            ("ATTN_SWEEPER_METRICS_ADDR", "127.0.0.1:0"),
        ])
    }

    /// attendance-service's settings, calling verification-service at `verification_url`.
    fn attendance_env(&self, verification_url: &str) -> Vec<(String, String)> {
        let mut attendance_env = self.common_env();
        attendance_env.extend(env(&[
            ("ATTN_VERIFICATION_URL", verification_url),
            // Every simulated student comes from 127.0.0.1: per-address limits would trip.
            ("ATTN_LOGIN_ATTEMPTS_PER_MINUTE", "1000000"),
            ("ATTN_ATTEND_ATTEMPTS_PER_MINUTE", "1000000"),
            // Sign-ins must outlive a full run.
            ("ATTN_STUDENT_TOKEN_TTL_SECS", "21600"),
            ("ATTN_TEACHER_TOKEN_TTL_SECS", "21600"),
            ("ATTN_ADMIN_TOKEN_TTL_SECS", "21600"),
        ]));
        attendance_env
    }

    /// Starts another verification- and attendance-service on this stack's
    /// Redis and database, with metrics on (admin listeners on free ports) or
    /// off (`ATTN_*_METRICS_ADDR=off`), so the same sign-ins and sessions
    /// serve it: one side of the `metrics` scenario. Returns the two
    /// processes and attendance-service's URL.
    pub async fn start_pair(&self, settings: &Settings, log_dir: &Path, metrics_on: bool) -> anyhow::Result<Pair> {
        let addr = if metrics_on { "127.0.0.1:0" } else { "off" };
        let metrics_env = env(&[("ATTN_ATTENDANCE_METRICS_ADDR", addr), ("ATTN_VERIFICATION_METRICS_ADDR", addr)]);
        let pair_dir = log_dir.join(if metrics_on { "metrics-on-pair" } else { "metrics-off-pair" });
        std::fs::create_dir_all(&pair_dir)?;
        let mut verification_env = self.common_env();
        verification_env.extend(settings.service_env.iter().cloned());
        verification_env.extend(metrics_env.iter().cloned());
        let (verification, verification_url) =
            spawn_grpc("verification-service", &self.bin_dir, "ATTN_VERIFICATION_ADDR", verification_env, &pair_dir)
                .await?;
        let mut attendance_env = self.attendance_env(&verification_url);
        attendance_env.extend(settings.service_env.iter().cloned());
        attendance_env.extend(metrics_env);
        match spawn_grpc("attendance-service", &self.bin_dir, "ATTN_ATTENDANCE_ADDR", attendance_env, &pair_dir).await {
            Ok((attendance, url)) => Ok((vec![verification, attendance], url)),
            Err(err) => {
                verification.stop().await;
                Err(err)
            }
        }
    }

    async fn start_processes(&mut self, settings: &Settings, log_dir: &Path) -> anyhow::Result<()> {
        let common = self.common_env();
        // --service-env goes last, so it wins over the defaults here.
        let extra = &settings.service_env;

        let mut gateway = String::new();
        if settings.face_enabled() {
            let port = free_port()?;
            let standin_url = format!("http://127.0.0.1:{port}");
            let mut standin = Proc::spawn(
                "face-gateway-standin",
                &binary(&self.bin_dir, "face-gateway-standin")?,
                &[],
                &env(&[
                    ("ATTN_LOG", "warn"),
                    ("ATTN_STANDIN_ADDR", &format!("127.0.0.1:{port}")),
                    ("ATTN_STANDIN_DELAY_MS", &settings.face_delay_ms.to_string()),
                ]),
                log_dir,
            )?;
            wait_for_http(&format!("{standin_url}/healthz"), &mut standin).await?;
            self.procs.push(standin);
            let proxy = FaceProxy::start("127.0.0.1:0".parse()?, &standin_url).await?;
            gateway = proxy.url.clone();
            self.face_proxy = Some(proxy);
            self.standin_url = Some(standin_url);
        }

        let mut verification_env = common.clone();
        verification_env.push(("ATTN_FACE_GATEWAY_URL".into(), gateway));
        if self.standin_url.is_some() {
            // Reference photos come from the stand-in on loopback, refused unless allow-listed.
            verification_env.push(("ATTN_FACE_PHOTO_ALLOWED_HOSTS".into(), "127.0.0.1".into()));
        }
        verification_env.extend(extra.iter().cloned());
        let (proc, verification_url) =
            spawn_grpc("verification-service", &self.bin_dir, "ATTN_VERIFICATION_ADDR", verification_env, log_dir)
                .await?;
        self.procs.push(proc);

        let mut attendance_env = self.attendance_env(&verification_url);
        attendance_env.extend(extra.iter().cloned());
        let (proc, url) =
            spawn_grpc("attendance-service", &self.bin_dir, "ATTN_ATTENDANCE_ADDR", attendance_env, log_dir).await?;
        self.procs.push(proc);
        self.attendance_url = url;

        let mut sweeper_env = common;
        // No cron: only the benchmark's RunJob archives anything. The face
        // results fast path (ATTN_FACE_POLL_INTERVAL_MS) runs regardless.
        sweeper_env.extend(env(&[
            ("ATTN_SCHEDULER_ENABLED", "false"),
            ("ATTN_VERIFICATION_URL", &verification_url),
            ("ATTN_SWEEP_BATCH_SIZE", "1000"),
        ]));
        sweeper_env.extend(extra.iter().cloned());
        let (proc, url) =
            spawn_grpc("sweeper-service", &self.bin_dir, "ATTN_SWEEPER_ADDR", sweeper_env, log_dir).await?;
        self.procs.push(proc);
        self.sweeper_url = Some(url);
        Ok(())
    }

    async fn target(settings: &Settings, target: &str) -> anyhow::Result<Self> {
        let mut stack = Self {
            attendance_url: target.to_owned(),
            sweeper_url: settings.sweeper.clone(),
            redis_url: settings.redis_url.clone(),
            key_prefix: settings.redis_key_prefix.clone(),
            database_url: settings.database_url.clone(),
            face_proxy: None,
            standin_url: settings.standin_url.clone(),
            procs: Vec::new(),
            bin_dir: settings.bin_dir.clone(),
            own_database: None,
        };
        if let (Some(listen), Some(standin)) = (settings.face_proxy_listen, &settings.standin_url) {
            stack.face_proxy = Some(FaceProxy::start(listen, standin).await?);
        }
        wait_until_serving(&stack.attendance_url, Duration::from_secs(10), || Ok(())).await?;
        Ok(stack)
    }

    /// Settings for `attendance-service import-roster` against this stack's database.
    pub fn import_env(&self) -> Vec<(String, String)> {
        env(&[("ATTN_LOG", "warn"), ("ATTN_DATABASE_URL", &self.database_url)])
    }

    pub fn redis_settings(&self) -> RedisSettings {
        RedisSettings { url: self.redis_url.clone().into(), pool_size: 4, command_timeout: Duration::from_secs(5) }
    }

    /// Starts a measured interval: new peak-RSS windows, then a sample.
    pub fn start_window(&self) -> BTreeMap<&'static str, ProcSample> {
        for proc in &self.procs {
            proc.reset_peak();
        }
        self.sample()
    }

    /// Each process's peak RSS over the whole run (sign-in included), in MiB.
    pub fn run_peaks(&self) -> BTreeMap<String, f64> {
        self.procs.iter().map(|proc| (proc.name.to_owned(), proc.run_peak_mib())).collect()
    }

    pub fn sample(&self) -> BTreeMap<&'static str, ProcSample> {
        self.procs.iter().filter_map(|proc| Some((proc.name, proc.sample().ok()?))).collect()
    }

    /// Stops what was started, drops the database and deletes the keys.
    /// Problems are reported, never fatal: cleanup runs after failures too.
    pub async fn cleanup(&mut self) {
        for proc in self.procs.drain(..) {
            proc.stop().await;
        }
        self.face_proxy = None;
        let Some((admin_url, name)) = self.own_database.take() else {
            return;
        };
        match PgConnection::connect(&admin_url).await {
            Ok(mut admin) => {
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await {
                    eprintln!("could not drop database {name}: {err}");
                }
            }
            Err(err) => eprintln!("could not drop database {name}: {err}"),
        }
        if let Err(err) = delete_keys(&self.redis_settings(), &self.key_prefix).await {
            eprintln!("could not delete Redis keys {}:*: {err:#}", self.key_prefix);
        }
    }
}

/// Starts a gRPC service on a free port and waits until its health check
/// says SERVING. Returns the process and its URL.
async fn spawn_grpc(
    name: &'static str,
    bin_dir: &Path,
    addr_setting: &str,
    env: Vec<(String, String)>,
    log_dir: &Path,
) -> anyhow::Result<(Proc, String)> {
    let program = binary(bin_dir, name)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let mut env = env.clone();
        env.push((addr_setting.to_owned(), format!("127.0.0.1:{port}")));
        let mut proc = Proc::spawn(name, &program, &[], &env, log_dir)?;
        let url = format!("http://127.0.0.1:{port}");
        match wait_until_serving(&url, START_DEADLINE, || proc.check_alive()).await {
            Ok(()) => return Ok((proc, url)),
            Err(err) => {
                let log = crate::procs::tail(&proc.log, 20);
                let lost_the_port = log.contains("cannot listen on") || log.contains("in use");
                proc.stop().await;
                if !(lost_the_port && attempt < 3) {
                    return Err(err.context(format!("{name} did not start")));
                }
            }
        }
    }
}

/// Polls an HTTP health URL until it answers 200, or fails at the deadline.
async fn wait_for_http(url: &str, proc: &mut Proc) -> anyhow::Result<()> {
    let client = http_client()?;
    let give_up = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        proc.check_alive()?;
        if let Ok(answer) = client.get(url).timeout(Duration::from_secs(1)).send().await
            && answer.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= give_up {
            bail!("{url} did not answer within {START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The benchmark's own keys only (its prefix), so SCAN is acceptable here;
/// the services themselves never scan.
async fn delete_keys(settings: &RedisSettings, prefix: &str) -> anyhow::Result<()> {
    let pool = attn_store::redis::connect_pool(settings).await?;
    let client = pool.next().clone();
    let mut keys: Vec<String> = Vec::new();
    let mut scan = client.scan(format!("{prefix}:*"), Some(1000), None);
    while let Some(mut page) = scan.try_next().await? {
        if let Some(results) = page.take_results() {
            keys.extend(results.into_iter().filter_map(|k| k.into_string()));
        }
    }
    for chunk in keys.chunks(500) {
        let _: i64 = client.del(chunk.to_vec()).await?;
    }
    let _ = pool.quit().await;
    Ok(())
}
