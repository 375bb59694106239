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
    /// A campus morning: many teachers' sessions, many students on many
    /// connections, closed and open loop, at 1, 100 and 1,000 open sessions (issue 11).
    Campus,
    /// The option-2 check-in storm with metrics on, beside the same with
    /// metrics off (ATTN_*_METRICS_ADDR=off), round by round (issue 12).
    Metrics,
    /// A semester of course sessions seeded into PostgreSQL: GetCourseReport
    /// and the course register export, against a bare COPY of the same rows (issue 13).
    Semester,
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
    /// Which scenarios to run [default: storm,archive,face; quick: all six].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Option<Vec<Scenario>>,
    /// Campus: teachers, each opening one session [default: 1000; quick 20].
    #[arg(long)]
    pub teachers: Option<usize>,
    /// Campus: students, each on the roster of exactly one session [default: 20000; quick 400].
    #[arg(long)]
    pub campus_students: Option<usize>,
    /// Campus: HTTP/2 connections the students use (phones do not share connections).
    #[arg(long, default_value_t = 256)]
    pub campus_connections: usize,
    /// Campus: students per closed-loop run; each makes each call once [default: 5000; quick 400].
    #[arg(long)]
    pub campus_closed_students: Option<usize>,
    /// Campus: closed-loop rounds; each round measures every level once,
    /// ascending in the first round, descending in the second, and so on, so a host that
    /// speeds up or slows down during the run weighs on every level alike
    /// [default: 4; quick 2].
    #[arg(long)]
    pub campus_rounds: Option<usize>,
    /// Campus: the open loop's morning, in seconds: every student arrives,
    /// evenly spread, within it [default: 60; quick 5].
    #[arg(long)]
    pub campus_open_secs: Option<f64>,
    /// Campus: open-session counts to measure at (capped at --teachers).
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    pub campus_levels: Vec<usize>,
    /// Campus: the sessions' security option (1 none, 2 same network).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub campus_option: u8,
    /// Campus: students who sign in through Login (argon2id, a few dozen a
    /// second on two cores); the others get a token written to Redis as Login
    /// writes it [default: 1000; quick 100].
    #[arg(long)]
    pub campus_logins: Option<usize>,
    /// Campus: open loop, students in flight at most (later arrivals wait,
    /// and the wait counts in their latency).
    #[arg(long, default_value_t = 1024)]
    pub campus_in_flight: usize,
    /// Semester: weeks of course sessions [default: 14; quick 2].
    #[arg(long)]
    pub semester_weeks: Option<usize>,
    /// Semester: sessions of each course a week (1 to 7) [default: 3; quick 3].
    #[arg(long)]
    pub semester_sessions_per_week: Option<usize>,
    /// Semester: courses, each with its own teacher [default: 40; quick 3].
    #[arg(long)]
    pub semester_courses: Option<usize>,
    /// Semester: students enrolled in each course [default: 150; quick 20].
    #[arg(long)]
    pub semester_students: Option<usize>,
    /// Semester: timed GetCourseReport calls (and as many COPYs) after a warm-up [default: 200; quick 20].
    #[arg(long)]
    pub semester_calls: Option<usize>,
    /// Semester: timed exports of each kind (and as many COPYs) after a warm-up [default: 20; quick 3].
    #[arg(long)]
    pub semester_exports: Option<usize>,
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
    pub campus: CampusSettings,
    pub semester: SemesterSettings,
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

/// The campus scenario's settings (issue 11), every default resolved.
#[derive(Debug, Clone, Serialize)]
pub struct CampusSettings {
    pub teachers: usize,
    pub students: usize,
    pub connections: usize,
    pub closed_students: usize,
    /// Closed-loop rounds over every level (see `--campus-rounds`).
    pub rounds: usize,
    pub open_secs: f64,
    /// Open-session counts measured at, ascending, each at most `teachers`.
    pub levels: Vec<usize>,
    pub security_option: u8,
    pub in_flight: usize,
    pub logins: usize,
}

impl CampusSettings {
    fn from_args(args: &RunArgs) -> Self {
        let pick =
            |given: Option<usize>, full: usize, quick: usize| given.unwrap_or(if args.quick { quick } else { full });
        // Five digits in the lesson names keep one lesson from containing another.
        let teachers = pick(args.teachers, 1000, 20).clamp(1, 99_999);
        let students = pick(args.campus_students, 20_000, 400).max(1);
        let mut levels: Vec<usize> = args.campus_levels.iter().map(|&n| n.clamp(1, teachers)).collect();
        levels.sort_unstable();
        levels.dedup();
        Self {
            teachers,
            students,
            connections: args.campus_connections.max(1),
            closed_students: pick(args.campus_closed_students, 5_000, 400).clamp(1, students),
            rounds: pick(args.campus_rounds, 4, 2).max(1),
            open_secs: args.campus_open_secs.unwrap_or(if args.quick { 5.0 } else { 60.0 }).max(0.1),
            levels,
            security_option: args.campus_option,
            in_flight: args.campus_in_flight.max(1),
            logins: pick(args.campus_logins, 1000, 100).min(students),
        }
    }

    /// Students arriving per second in the open loop.
    pub fn arrival_rate(&self) -> f64 {
        self.students as f64 / self.open_secs
    }
}

/// The semester scenario's settings (issue 13), every default resolved.
#[derive(Debug, Clone, Serialize)]
pub struct SemesterSettings {
    pub weeks: usize,
    pub sessions_per_week: usize,
    pub courses: usize,
    pub students_per_course: usize,
    /// Students in all: each is enrolled in about four courses (all of them
    /// when there are fewer than four courses' worth).
    pub students: usize,
    pub calls: usize,
    pub exports: usize,
}

impl SemesterSettings {
    fn from_args(args: &RunArgs) -> Self {
        let pick =
            |given: Option<usize>, full: usize, quick: usize| given.unwrap_or(if args.quick { quick } else { full });
        // Three digits for courses, five for students, in their numbers.
        let courses = pick(args.semester_courses, 40, 3).clamp(1, 999);
        let students_per_course = pick(args.semester_students, 150, 20).clamp(1, 99_999);
        Self {
            weeks: pick(args.semester_weeks, 14, 2).clamp(1, 52),
            sessions_per_week: pick(args.semester_sessions_per_week, 3, 3).clamp(1, 7),
            courses,
            students_per_course,
            students: (courses * students_per_course / 4).clamp(students_per_course, 99_999),
            calls: pick(args.semester_calls, 200, 20).max(1),
            exports: pick(args.semester_exports, 20, 3).max(1),
        }
    }

    /// Sessions of each course over the semester.
    pub fn sessions_per_course(&self) -> usize {
        self.weeks * self.sessions_per_week
    }
}

impl Settings {
    pub fn from_args(args: RunArgs) -> Self {
        let campus = CampusSettings::from_args(&args);
        let semester = SemesterSettings::from_args(&args);
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
            scenarios: args.scenarios.unwrap_or_else(|| {
                let mut all = vec![Scenario::Storm, Scenario::Archive, Scenario::Face];
                if args.quick {
                    all.extend([Scenario::Campus, Scenario::Metrics, Scenario::Semester]);
                }
                all
            }),
            campus,
            semester,
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
        let storm = if self.runs(Scenario::Storm) || self.runs(Scenario::Metrics) { self.students } else { 0 };
        let face = if self.face_enabled() { self.face_students } else { 0 };
        storm.max(face)
    }

    /// Students on the roster: the signed-in ones, plus enough for the archive.
    pub fn roster_students(&self) -> usize {
        let archive = if self.runs(Scenario::Archive) { self.archive_records } else { 0 };
        self.signed_in_students().max(archive).max(1)
    }
}
