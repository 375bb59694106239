//! Command-line flags, and the settings they resolve to (`--quick` changes
//! the defaults, explicit flags still win).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Benchmarks ATTN on this machine against a bare tonic echo service and a bare
/// PostgreSQL COPY, measured side by side. See tests/bench/README.md.
#[derive(Parser)]
#[command(version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Internal: the bare echo service the check-in storm is compared against.
    #[command(hide = true)]
    EchoServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Check-in storm with the echo baseline and the live roster (scenarios 1, 2 and 4).
    Storm,
    /// Archive of one large session against a bare COPY (scenario 3).
    Archive,
    /// Face results through the stand-in gateway (scenario 5).
    Face,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Small and quick (100 students, concurrency 16, one round, a 1,000-record
    /// archive, 20 face students): checks the stack works, for the test command.
    #[arg(long)]
    pub quick: bool,
    /// Students in the check-in storm [default: 2000; quick 100].
    #[arg(long)]
    pub students: Option<usize>,
    /// Calls in flight at once [default: 64; quick 16].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// HTTP/2 connections the load is spread over.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// ATTN/echo pairs (and archive/COPY pairs) [default: 3; quick 1].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Records in the archived session [default: 10000; quick 1000].
    #[arg(long)]
    pub archive_records: Option<usize>,
    /// Students in the face scenario [default: 200; quick 20].
    #[arg(long)]
    pub face_students: Option<usize>,
    /// How long the stand-in gateway takes to finish a job.
    #[arg(long, default_value_t = 300)]
    pub face_delay_ms: u64,
    /// Which scenarios to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "storm,archive,face")]
    pub scenarios: Vec<Scenario>,
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Run `cargo build --release` for the four service binaries first.
    #[arg(long)]
    pub build: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Redis the stack uses.
    #[arg(long, env = "ATTN_BENCH_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// A started stack: a database to create (and drop) the benchmark's own from.
    /// With --target: the target's own database (for the roster import).
    #[arg(long, env = "ATTN_BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// Benchmark a running attendance-service (e.g. http://127.0.0.1:50051)
    /// instead of starting one. No per-process figures then.
    #[arg(long)]
    pub target: Option<String>,
    /// With --target: its sweeper-service, for the archive scenario.
    #[arg(long)]
    pub sweeper: Option<String>,
    /// With --target: its ATTN_REDIS_KEY_PREFIX.
    #[arg(long, default_value = "attn")]
    pub redis_key_prefix: String,
    /// With --target: listen here for the target's verification-service
    /// (ATTN_FACE_GATEWAY_URL) and pass calls on to --standin-url.
    #[arg(long)]
    pub face_proxy_listen: Option<SocketAddr>,
    /// With --target: the stand-in face gateway.
    #[arg(long)]
    pub standin_url: Option<String>,
    /// Keep the services' logs even when everything went well.
    #[arg(long)]
    pub keep_logs: bool,
    /// An extra setting for every started service, e.g. ATTN_REDIS_POOL_SIZE=2
    /// or MALLOC_MMAP_THRESHOLD_=1048576 (repeatable; for trying fixes).
    #[arg(long = "service-env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub service_env: Vec<(String, String)>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// What a run does, with every default resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub quick: bool,
    pub students: usize,
    pub concurrency: usize,
    pub channels: usize,
    pub rounds: usize,
    pub archive_records: usize,
    pub face_students: usize,
    pub face_delay_ms: u64,
    pub scenarios: Vec<Scenario>,
    #[serde(skip)]
    pub bin_dir: PathBuf,
    #[serde(skip)]
    pub build: bool,
    #[serde(skip)]
    pub json: Option<PathBuf>,
    #[serde(skip)]
    pub redis_url: String,
    #[serde(skip)]
    pub database_url: String,
    pub target: Option<String>,
    #[serde(skip)]
    pub sweeper: Option<String>,
    #[serde(skip)]
    pub redis_key_prefix: String,
    #[serde(skip)]
    pub face_proxy_listen: Option<SocketAddr>,
    #[serde(skip)]
    pub standin_url: Option<String>,
    #[serde(skip)]
    pub keep_logs: bool,
    pub service_env: Vec<(String, String)>,
}

impl Settings {
    pub fn from_args(args: RunArgs) -> Self {
        let pick =
            |given: Option<usize>, full: usize, quick: usize| given.unwrap_or(if args.quick { quick } else { full });
        Self {
            quick: args.quick,
            students: pick(args.students, 2000, 100).max(1),
            concurrency: pick(args.concurrency, 64, 16).max(1),
            channels: args.channels.max(1),
            rounds: pick(args.rounds, 3, 1).max(1),
            archive_records: pick(args.archive_records, 10_000, 1_000).max(1),
            face_students: pick(args.face_students, 200, 20).max(1),
            face_delay_ms: args.face_delay_ms,
            scenarios: args.scenarios,
            bin_dir: args.bin_dir,
            build: args.build,
            json: args.json,
            redis_url: args.redis_url,
            database_url: args.database_url,
            target: args.target,
            sweeper: args.sweeper,
            redis_key_prefix: args.redis_key_prefix,
            face_proxy_listen: args.face_proxy_listen,
            standin_url: args.standin_url,
            keep_logs: args.keep_logs,
            service_env: args.service_env,
        }
    }

    pub fn runs(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// A started stack runs the stand-in; a target needs the proxy flags.
    pub fn face_enabled(&self) -> bool {
        self.runs(Scenario::Face)
            && (self.target.is_none() || (self.face_proxy_listen.is_some() && self.standin_url.is_some()))
    }

    /// Students who must sign in: the storm's and the face scenario's.
    pub fn signed_in_students(&self) -> usize {
        let storm = if self.runs(Scenario::Storm) { self.students } else { 0 };
        let face = if self.face_enabled() { self.face_students } else { 0 };
        storm.max(face)
    }

    /// Students on the roster: the signed-in ones, plus enough for the archive.
    pub fn roster_students(&self) -> usize {
        let archive = if self.runs(Scenario::Archive) { self.archive_records } else { 0 };
        self.signed_in_students().max(archive).max(1)
    }
}
