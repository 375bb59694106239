//! Scenario 6 (issue 11): a campus morning.
//!
//! T teachers each open a session; S students, each on the roster of
//! exactly one of them, find their lesson (`FindActiveAttendances`), check
//! in (`Attend`) and read their record (`GetMyRecord`, `ListMyAttendance`),
//! each on its own HTTP/2 connection out of many (phones do not share
//! connections). Measured with 1, 100 and 1,000 sessions open, two ways:
//!
//! - closed loop: `concurrency` calls in flight, one call at a time for
//!   `closed_students` students (all of them find, then all attend, ...), so
//!   each call gets its own throughput. It runs in `rounds`, each measuring
//!   every level once, ascending then descending in turn: this host's speed
//!   drifts by a quarter from minute to minute, and a level measured once,
//!   for a second, measures the host as much as ATTN. Latencies pool over
//!   the rounds; the throughput ratio between levels is taken within each
//!   round (levels measured a minute apart) and its median reported;
//! - open loop: all S students arrive evenly over `open_secs` (a campus
//!   morning's rate), each making its four calls in turn; latency counts
//!   from when the student was due (see `open_loop`).
//!
//! Every level's closed loop runs before any open loop, each with students
//! of its own (when S allows), so every level's students have the same
//! history for `ListMyAttendance` to merge.
//!
//! The echo baseline runs the same shapes in the same run. Every run
//! gets fresh sessions: the previous ones are finished and archived first
//! (`sweep_attendances` through RunJob, untimed), so exactly the stated
//! number of sessions is in Redis while students call.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use attn_domain::Role;
use attn_proto::v1::{
    AttendRequest, FindActiveAttendancesRequest, FinishAttendanceRequest, GetMyRecordRequest, ListMyAttendanceRequest,
    RecordStatus, SecurityOption, StartAttendanceRequest, start_attendance_request::Ends,
    student_service_client::StudentServiceClient, sweeper_service_client::SweeperServiceClient,
    teacher_service_client::TeacherServiceClient,
};
use attn_store::{
    Keys, TokenStore,
    tokens::{SignIn, hash_token},
};
use fred::interfaces::ClientLike;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tonic::transport::Channel;

use crate::{
    archive,
    bench::Bench,
    cli::CampusSettings,
    clients::{Token, authed, connect, connect_many},
    echo::pb::{EchoRequest, echo_service_client::EchoServiceClient},
    load::{self, Failure, Load, LoadFigures},
    open_loop::{self, OpenLoad, Stopwatch},
    procs::{self, Proc, ProcSample},
    redis_probe::{self, RedisSample},
    roster::{self, Person},
    storm::Latency,
};

pub const FIND: &str = "FindActiveAttendances";
pub const ATTEND: &str = "Attend";
pub const GET: &str = "GetMyRecord";
pub const LIST: &str = "ListMyAttendance";
pub const ECHO: &str = "echo";
/// The student calls, in the order a student makes them.
pub const CALLS: [&str; 4] = [FIND, ATTEND, GET, LIST];

#[derive(Debug, Clone, Serialize)]
pub struct CampusSetup {
    /// Teachers and students imported by `import-roster` (one file, no passwords).
    pub users_imported: u64,
    pub import_secs: f64,
    /// Giving them all one argon2id hash of the bench password.
    pub password_secs: f64,
    /// Students signed in through `Login`.
    pub signed_in: usize,
    pub sign_in_secs: f64,
    /// Teachers and the other students: tokens written to Redis as Login writes them.
    pub tokens_issued: usize,
    pub issue_secs: f64,
}

/// One call's closed-loop runs at one level (pooled over the rounds), or the echo's.
#[derive(Debug, Clone, Serialize)]
pub struct CallRun {
    pub call: String,
    /// Every round together: calls/s over their summed time, percentiles of all their calls.
    pub load: LoadFigures,
    /// Each round's calls/s, in round order.
    pub round_throughputs: Vec<f64>,
    /// Process → CPU microseconds per call (Redis: `redis-server`).
    pub cpu_us_per_call: BTreeMap<String, f64>,
    /// Redis command → calls per call.
    pub redis_commands_per_call: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosedRun {
    pub students: usize,
    pub rounds: usize,
    pub calls: Vec<CallRun>,
    /// Process → peak RSS over the four calls' runs (highest round), MiB.
    pub peak_rss_mib: BTreeMap<String, f64>,
}

/// One call's closed-loop runs at one level, added up round by round.
#[derive(Default)]
struct CallRounds {
    load: Load,
    throughputs: Vec<f64>,
    /// Per-call figures times the round's calls, so that dividing by all
    /// rounds' calls weighs each round by its calls.
    cpu_us: BTreeMap<String, f64>,
    redis_commands: BTreeMap<String, f64>,
}

impl CallRounds {
    fn add(&mut self, load: Load, run: CallRun) {
        let calls = run.load.calls as f64;
        for (name, per_call) in run.cpu_us_per_call {
            *self.cpu_us.entry(name).or_default() += per_call * calls;
        }
        for (name, per_call) in run.redis_commands_per_call {
            *self.redis_commands.entry(name).or_default() += per_call * calls;
        }
        self.throughputs.push(run.load.throughput);
        self.load.absorb(load);
    }

    fn pooled(self, call: &str) -> CallRun {
        let load = self.load.figures();
        let calls = load.calls.max(1) as f64;
        let per_call = |totals: BTreeMap<String, f64>| -> BTreeMap<String, f64> {
            totals.into_iter().map(|(name, total)| (name, total / calls)).collect()
        };
        CallRun {
            call: call.to_owned(),
            load,
            round_throughputs: self.throughputs,
            cpu_us_per_call: per_call(self.cpu_us),
            redis_commands_per_call: per_call(self.redis_commands),
        }
    }
}

/// One level's closed-loop rounds, added up.
#[derive(Default)]
struct LevelRounds {
    calls: [CallRounds; CALLS.len()],
    echo: CallRounds,
    peak_rss_mib: BTreeMap<String, f64>,
    rounds: usize,
}

impl LevelRounds {
    fn add(&mut self, round: ClosedRound, echo: (Load, CallRun)) {
        for (pooled, (load, run)) in self.calls.iter_mut().zip(round.calls) {
            pooled.add(load, run);
        }
        self.echo.add(echo.0, echo.1);
        for (name, peak) in round.peak_rss_mib {
            let highest = self.peak_rss_mib.entry(name).or_insert(peak);
            *highest = highest.max(peak);
        }
        self.rounds += 1;
    }

    fn pooled(self, students: usize) -> (ClosedRun, CallRun) {
        let calls = CALLS.iter().zip(self.calls).map(|(call, rounds)| rounds.pooled(call)).collect();
        let closed = ClosedRun { students, rounds: self.rounds, calls, peak_rss_mib: self.peak_rss_mib };
        (closed, self.echo.pooled(ECHO))
    }
}

/// One round of one level: each call's run (with its latencies) and the peaks.
struct ClosedRound {
    calls: Vec<(Load, CallRun)>,
    peak_rss_mib: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenCall {
    pub call: String,
    pub load: LoadFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenRun {
    pub students: usize,
    pub arrivals_per_sec: f64,
    /// From the first student's due time to the last answer.
    pub elapsed_secs: f64,
    pub students_completed: u64,
    /// Students who waited for one of the in-flight slots.
    pub waited_for_a_slot: u64,
    /// How late students started after their due time.
    pub start_lag: Latency,
    pub calls: Vec<OpenCall>,
    /// Process → CPU microseconds per student (all of its calls).
    pub cpu_us_per_student: BTreeMap<String, f64>,
    /// Redis command → calls per student.
    pub redis_commands_per_student: BTreeMap<String, f64>,
    pub peak_rss_mib: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub open_sessions: usize,
    pub closed: ClosedRun,
    pub echo_closed: CallRun,
    pub open: OpenRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampusReport {
    pub settings: CampusSettings,
    pub concurrency: usize,
    pub setup: CampusSetup,
    pub levels: Vec<LevelReport>,
    /// The echo service under the same arrivals (run once, after the first level).
    pub echo_open: Option<OpenRun>,
    /// Calls that failed (every run, by code), and sweeps that archived the wrong count.
    pub failures: Vec<String>,
}

impl CampusReport {
    /// Failed calls, over every ATTN run.
    pub fn errors(&self) -> u64 {
        let closed = self.levels.iter().flat_map(|l| l.closed.calls.iter()).map(|c| c.load.calls - c.load.ok);
        let open = self.levels.iter().flat_map(|l| l.open.calls.iter()).map(|c| c.load.calls - c.load.ok);
        closed.chain(open).sum()
    }

    /// `call`'s closed-loop calls/s at the highest level over the lowest,
    /// within each round: the median of the rounds, and each round's.
    pub fn throughput_ratio(&self, call: &str) -> Option<(f64, Vec<f64>)> {
        let (base, top) = (self.levels.first()?, self.levels.last()?);
        if top.open_sessions <= base.open_sessions {
            return None;
        }
        let rounds = |level: &LevelReport| {
            level.closed.calls.iter().find(|c| c.call == call).map(|c| c.round_throughputs.clone())
        };
        let ratios: Vec<f64> = rounds(top)?
            .iter()
            .zip(rounds(base)?)
            .filter(|(_, base)| *base > 0.0)
            .map(|(top, base)| top / base)
            .collect();
        Some((crate::stats::median(&ratios)?, ratios))
    }

    /// attendance-service's highest peak over every campus run.
    pub fn attendance_peak_rss_mib(&self) -> Option<f64> {
        self.levels
            .iter()
            .flat_map(|l| [&l.closed.peak_rss_mib, &l.open.peak_rss_mib])
            .filter_map(|peaks| peaks.get("attendance-service").copied())
            .reduce(f64::max)
    }
}

/// The sessions of one run: session `j` belongs to teacher `j`, and
/// student `i` is on the roster of session `i % sessions`.
struct Sessions {
    ids: Arc<Vec<String>>,
    lessons: Arc<Vec<String>>,
}

struct Campus<'b, 'a> {
    bench: &'b Bench<'a>,
    settings: CampusSettings,
    concurrency: usize,
    channels: Arc<Vec<Channel>>,
    teachers: Arc<Vec<Token>>,
    students: Arc<Vec<Token>>,
    sweeper: Option<SweeperServiceClient<Channel>>,
    runs: usize,
}

pub async fn run(bench: &Bench<'_>, echo: &Proc, echo_url: &str) -> anyhow::Result<CampusReport> {
    let settings = bench.settings.campus.clone();
    let (mut campus, setup) = Campus::prepare(bench, settings.clone()).await?;
    let echo_channels = Arc::new(connect_many(echo_url, settings.connections).await?);
    let mut failures = Vec::new();
    // Whatever earlier scenarios left in Redis goes first.
    campus.sweep_all(None, &mut failures).await?;

    // Every closed-loop level first, each with students of its own, then
    // the open loops: so no level's students carry history (archived
    // records that ListMyAttendance merges) that another level's did not.
    let disjoint = settings.levels.len() * settings.closed_students <= settings.students;
    if !disjoint {
        println!(
            "  note: {} levels x {} closed-loop students exceed {} students, so levels share students \
             and later ones read longer histories",
            settings.levels.len(),
            settings.closed_students,
            settings.students
        );
    }
    let mut pooled: Vec<LevelRounds> = settings.levels.iter().map(|_| LevelRounds::default()).collect();
    for round in 0..settings.rounds {
        let mut order: Vec<usize> = (0..settings.levels.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for k in order {
            let level = settings.levels[k];
            println!("  round {}/{}: {level} open session(s), closed loop:", round + 1, settings.rounds);
            let sessions = campus.open_sessions(level).await?;
            let first_student = if disjoint { k * settings.closed_students } else { 0 };
            let closed = campus.closed_loop(&sessions, first_student).await;
            campus.close_sessions(&sessions, &mut failures).await?;
            let echo_closed = campus.echo_closed(&echo_channels, echo).await;
            pooled[k].add(closed, echo_closed);
        }
    }
    let closed_runs = pooled.into_iter().map(|level| level.pooled(settings.closed_students));
    let mut levels = Vec::new();
    let mut echo_open = None;
    for (&level, (closed, echo_closed)) in settings.levels.iter().zip(closed_runs) {
        println!("  {level} open session(s), open loop:");
        let sessions = campus.open_sessions(level).await?;
        let open = campus.open_loop(&sessions).await;
        campus.close_sessions(&sessions, &mut failures).await?;
        if echo_open.is_none() {
            echo_open = Some(campus.echo_open(&echo_channels, echo).await);
        }
        for (mode, calls) in [
            ("closed loop", closed.calls.iter().map(|c| (&c.call, &c.load)).collect::<Vec<_>>()),
            ("open loop", open.calls.iter().map(|c| (&c.call, &c.load)).collect()),
        ] {
            for (call, load) in calls {
                for (kind, count) in &load.errors {
                    let example = load.error_examples.get(kind).map(String::as_str).unwrap_or_default();
                    failures
                        .push(format!("{level} open sessions, {mode}: {count} {call} calls got {kind} ({example})"));
                }
            }
        }
        if open.students_completed != open.students as u64 {
            failures.push(format!(
                "{level} open sessions, open loop: {} of {} students completed their calls",
                open.students_completed, open.students
            ));
        }
        levels.push(LevelReport { open_sessions: level, closed, echo_closed, open });
    }
    Ok(CampusReport { settings, concurrency: campus.concurrency, setup, levels, echo_open, failures })
}

impl<'b, 'a> Campus<'b, 'a> {
    /// Imports the campus's users, gives them a password, signs them in.
    async fn prepare(bench: &'b Bench<'a>, settings: CampusSettings) -> anyhow::Result<(Self, CampusSetup)> {
        let run = &bench.run_id;
        let person = |number: String, name: String| Person { number, name };
        let teachers: Vec<Person> = (0..settings.teachers)
            .map(|j| person(format!("b{run}-ct{j:05}"), format!("Campus Teacher {j:05}")))
            .collect();
        let students: Vec<Person> =
            (0..settings.students).map(|i| person(format!("b{run}-cs{i:05}"), format!("Campus Student {i}"))).collect();

        // One file, no passwords: the importer then writes 500 rows per
        // statement and hashes nothing (argon2id is one check per core, about
        // 10 ms each on this machine: 21,000 of them would take minutes and
        // measure nothing this scenario is about).
        let mut csv = String::from("school_number,full_name,role,photo_url,password\n");
        for (people, role) in [(&teachers, "teacher"), (&students, "student")] {
            for p in people {
                csv.push_str(&format!("{},{},{role},,\n", p.number, p.name));
            }
        }
        let path = bench.log_dir.join("campus-roster.csv");
        std::fs::write(&path, csv)?;
        let attendance = crate::stack::binary(&bench.stack.bin_dir, "attendance-service")?;
        println!("  importing {} teachers and {} students (one file) ...", teachers.len(), students.len());
        let (users_imported, import) = roster::import(&attendance, &bench.stack.import_env(), &[path]).await?;

        // Everyone gets the argon2id hash the importer made for the bench's
        // own teacher (a real one, same parameters, same password): signing
        // in still runs a full argon2id check per user, only the salt is shared.
        let started = Instant::now();
        let mut db = PgConnection::connect(&bench.stack.database_url)
            .await
            .context("cannot reach the stack's PostgreSQL to set the campus passwords")?;
        let updated = sqlx::query(
            "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE school_number = $1) \
             WHERE school_number LIKE $2",
        )
        .bind(&bench.people.teacher.number)
        .bind(format!("b{run}-c%"))
        .execute(&mut db)
        .await
        .context("cannot set the campus users' password")?
        .rows_affected();
        // What autovacuum would have done long before a real morning: else
        // it vacuums the 21,000 rows just rewritten during the first level.
        sqlx::query("VACUUM (ANALYZE) users").execute(&mut db).await.context("VACUUM (ANALYZE) users")?;
        let _ = db.close().await;
        if updated != (teachers.len() + students.len()) as u64 {
            bail!("set the password of {updated} campus users, expected {}", teachers.len() + students.len());
        }
        let password_secs = started.elapsed().as_secs_f64();

        let channels = connect_many(&bench.stack.attendance_url, settings.connections).await?;
        let logins = settings.logins;
        println!("  signing in {logins} students through Login ...");
        let (mut login_tokens, sign_in) = roster::sign_in_all(&channels, &students[..logins], 16).await?;
        let started = Instant::now();
        let issued = issue_tokens(bench, teachers.iter().chain(&students[logins..]), &teachers).await?;
        let issue_secs = started.elapsed().as_secs_f64();
        let (teacher_tokens, rest) = issued.split_at(teachers.len());
        login_tokens.extend_from_slice(rest);
        println!(
            "  imported {users_imported} users in {:.1} s, passwords set (and VACUUM ANALYZE) in {:.1} s; {logins} students signed in in \
             {:.1} s ({:.0}/s), {} tokens issued in {issue_secs:.1} s",
            import.as_secs_f64(),
            password_secs,
            sign_in.as_secs_f64(),
            logins as f64 / sign_in.as_secs_f64().max(1e-9),
            issued.len()
        );
        let sweeper = match &bench.stack.sweeper_url {
            Some(url) => Some(SweeperServiceClient::new(connect(url).await?)),
            None => {
                println!(
                    "  no sweeper-service (--sweeper): finished sessions stay in Redis, so the levels are approximate"
                );
                None
            }
        };
        let setup = CampusSetup {
            users_imported,
            import_secs: import.as_secs_f64(),
            password_secs,
            signed_in: logins,
            sign_in_secs: sign_in.as_secs_f64(),
            tokens_issued: issued.len(),
            issue_secs,
        };
        let campus = Self {
            bench,
            concurrency: bench.settings.concurrency,
            settings,
            channels: Arc::new(channels),
            teachers: Arc::new(teacher_tokens.to_vec()),
            students: Arc::new(login_tokens),
            sweeper,
            runs: 0,
        };
        Ok((campus, setup))
    }

    fn option(&self) -> SecurityOption {
        if self.settings.security_option == 1 { SecurityOption::Manual } else { SecurityOption::Network }
    }

    /// Teachers 0..count each open a session.
    async fn open_sessions(&mut self, count: usize) -> anyhow::Result<Sessions> {
        self.runs += 1;
        let run = self.runs;
        let started = Instant::now();
        let lessons: Vec<String> = (0..count).map(|j| format!("Campus run {run} lesson {j:05}")).collect();
        let option = self.option();
        let networks = if option == SecurityOption::Manual { Vec::new() } else { vec!["127.0.0.0/16".to_owned()] };
        let ids: Vec<String> = futures::stream::iter(lessons.iter().enumerate())
            .map(|(j, lesson)| {
                let mut client = TeacherServiceClient::new(self.channels[j % self.channels.len()].clone());
                let request = StartAttendanceRequest {
                    lesson_name: lesson.clone(),
                    ends: Some(Ends::Duration(prost_types::Duration { seconds: 3600, nanos: 0 })),
                    security_option: option as i32,
                    networks: networks.clone(),
                    ..Default::default()
                };
                let request = authed(request, &self.teachers[j]);
                async move {
                    let answer = client
                        .start_attendance(request)
                        .await
                        .with_context(|| format!("StartAttendance by campus teacher {j} failed"))?;
                    let session = answer.into_inner().attendance.context("StartAttendance answered no attendance")?;
                    anyhow::Ok(session.attendance_id)
                }
            })
            .buffered(32)
            .try_collect()
            .await?;
        println!("    opened {count} sessions in {:.1} s", started.elapsed().as_secs_f64());
        Ok(Sessions { ids: Arc::new(ids), lessons: Arc::new(lessons) })
    }

    /// Finishes the sessions and archives them (so the next run starts with
    /// none in Redis).
    async fn close_sessions(&mut self, sessions: &Sessions, failures: &mut Vec<String>) -> anyhow::Result<()> {
        let started = Instant::now();
        futures::stream::iter(sessions.ids.iter().enumerate())
            .map(|(j, id)| {
                let mut client = TeacherServiceClient::new(self.channels[j % self.channels.len()].clone());
                let request = authed(FinishAttendanceRequest { attendance_id: id.clone() }, &self.teachers[j]);
                async move {
                    client.finish_attendance(request).await.with_context(|| format!("FinishAttendance {id} failed"))
                }
            })
            .buffered(32)
            .try_collect::<Vec<_>>()
            .await?;
        self.sweep_all(Some(sessions.ids.len()), failures).await?;
        println!("    finished and archived them in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Runs `sweep_attendances` until it archives nothing more.
    async fn sweep_all(&mut self, expected: Option<usize>, failures: &mut Vec<String>) -> anyhow::Result<()> {
        let Some(sweeper) = &mut self.sweeper else { return Ok(()) };
        let mut archived = 0;
        loop {
            let sweep = archive::sweep(self.bench, sweeper).await?;
            let count = sweep.counts.get("sessions_archived").copied().unwrap_or(0);
            if count == 0 {
                break;
            }
            archived += count;
        }
        if let Some(expected) = expected
            && archived != expected as u64
        {
            failures.push(format!("sweep_attendances archived {archived} sessions, expected {expected}"));
        }
        Ok(())
    }

    /// Each call in turn, for `closed_students` students from
    /// `first_student` on, `concurrency` at a time.
    async fn closed_loop(&self, sessions: &Sessions, first_student: usize) -> ClosedRound {
        let students = self.settings.closed_students;
        // A new peak-RSS window for the four runs together.
        self.bench.stack.start_window();
        let mut calls = Vec::new();
        for call in CALLS {
            let before = (self.bench.stack.sample(), self.bench.redis.sample().await);
            let load = {
                let (channels, tokens) = (self.channels.clone(), self.students.clone());
                let (ids, lessons) = (sessions.ids.clone(), sessions.lessons.clone());
                let run = self.runs;
                load::run(students, self.concurrency, move |i| {
                    let i = (first_student + i) % tokens.len();
                    let channel = channels[i % channels.len()].clone();
                    let token = tokens[i].clone();
                    let (id, lesson) = (ids[i % ids.len()].clone(), lessons[i % ids.len()].clone());
                    async move {
                        match call {
                            FIND => find(channel, &token, &lesson, &id).await.map(drop),
                            ATTEND => attend(channel, &token, &id, format!("campus-{run}-{i}")).await,
                            GET => my_record(channel, &token, &id).await,
                            _ => my_history(channel, &token, &id).await,
                        }
                    }
                })
                .await
            };
            let run = self.call_run(call, &load, before).await;
            println!(
                "    closed loop {call:<21} {:>7.0} calls/s  p99 {:>8.2} ms  errors {}",
                run.load.throughput,
                run.load.p99_ms,
                run.load.calls - run.load.ok
            );
            calls.push((load, run));
        }
        ClosedRound { calls, peak_rss_mib: peaks(&self.bench.stack.sample()) }
    }

    async fn call_run(
        &self,
        call: &str,
        load: &Load,
        before: (BTreeMap<&'static str, ProcSample>, RedisSample),
    ) -> CallRun {
        let after = (self.bench.stack.sample(), self.bench.redis.sample().await);
        let calls = (load.ok + load.error_count()).max(1);
        let redis = redis_probe::figures(&before.1, &after.1, calls);
        let mut cpu_us_per_call: BTreeMap<String, f64> = procs::figures(&before.0, &after.0)
            .into_iter()
            .map(|(name, p)| (name, p.cpu_secs * 1e6 / calls as f64))
            .collect();
        cpu_us_per_call.insert("redis-server".into(), redis.cpu_secs * 1e6 / calls as f64);
        CallRun {
            call: call.to_owned(),
            load: load.figures(),
            round_throughputs: Vec::new(),
            cpu_us_per_call,
            redis_commands_per_call: redis.commands_per_call,
        }
    }

    /// The echo service, the same shape: `closed_students` calls, `concurrency` at a time.
    async fn echo_closed(&self, channels: &Arc<Vec<Channel>>, echo: &Proc) -> (Load, CallRun) {
        echo.reset_peak();
        let before = echo.sample().unwrap_or_default();
        let load = {
            let (channels, tokens) = (channels.clone(), self.students.clone());
            let id: Arc<str> = uuid::Uuid::now_v7().to_string().into();
            load::run(self.settings.closed_students, self.concurrency, move |i| {
                let mut client = EchoServiceClient::new(channels[i % channels.len()].clone());
                let request = authed(
                    EchoRequest { attendance_id: id.to_string(), selfie: Vec::new(), request_id: format!("echo-{i}") },
                    &tokens[i],
                );
                async move {
                    client.echo(request).await?;
                    Ok(())
                }
            })
            .await
        };
        let after = echo.sample().unwrap_or_default();
        let calls = (load.ok + load.error_count()).max(1) as f64;
        let figures = load.figures();
        println!("    closed loop {ECHO:<21} {:>7.0} calls/s  p99 {:>8.2} ms", figures.throughput, figures.p99_ms);
        let run = CallRun {
            call: ECHO.into(),
            load: figures,
            round_throughputs: Vec::new(),
            cpu_us_per_call: BTreeMap::from([(echo.name.to_owned(), (after.cpu_secs - before.cpu_secs) * 1e6 / calls)]),
            redis_commands_per_call: BTreeMap::new(),
        };
        (load, run)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.settings.open_secs / self.settings.students as f64)
    }

    /// Every student arrives on schedule and makes its four calls.
    async fn open_loop(&self, sessions: &Sessions) -> OpenRun {
        let students = self.settings.students;
        let window = self.bench.stack.start_window();
        let redis_before = self.bench.redis.sample().await;
        let load = {
            let (channels, tokens) = (self.channels.clone(), self.students.clone());
            let (ids, lessons) = (sessions.ids.clone(), sessions.lessons.clone());
            let run = self.runs;
            open_loop::run(students, self.interval(), self.settings.in_flight, move |i, due| {
                let channel = channels[i % channels.len()].clone();
                let token = tokens[i].clone();
                let (expected, lesson) = (ids[i % ids.len()].clone(), lessons[i % ids.len()].clone());
                async move {
                    let mut watch = Stopwatch::new(due);
                    let done = async {
                        let id = watch.lap(FIND, find(channel.clone(), &token, &lesson, &expected).await)?;
                        watch.lap(ATTEND, attend(channel.clone(), &token, &id, format!("campus-{run}-{i}")).await)?;
                        watch.lap(GET, my_record(channel.clone(), &token, &id).await)?;
                        watch.lap(LIST, my_history(channel, &token, &id).await)
                    }
                    .await
                    .is_some();
                    (watch.log, done)
                }
            })
            .await
        };
        let after = self.bench.stack.sample();
        let redis = redis_probe::figures(&redis_before, &self.bench.redis.sample().await, students as u64);
        let mut cpu_us_per_student: BTreeMap<String, f64> = procs::figures(&window, &after)
            .into_iter()
            .map(|(name, p)| (name, p.cpu_secs * 1e6 / students as f64))
            .collect();
        cpu_us_per_student.insert("redis-server".into(), redis.cpu_secs * 1e6 / students as f64);
        let run = open_run(&load, students, self.settings.arrival_rate(), &CALLS);
        let attend_p99 = run.calls.iter().find(|c| c.call == ATTEND).map_or(0.0, |c| c.load.p99_ms);
        println!(
            "    open loop, {students} students at {:.0}/s: done in {:.1} s, Attend p99 {attend_p99:.2} ms, errors {}",
            run.arrivals_per_sec,
            run.elapsed_secs,
            run.calls.iter().map(|c| c.load.calls - c.load.ok).sum::<u64>()
        );
        OpenRun {
            cpu_us_per_student,
            redis_commands_per_student: redis.commands_per_call,
            peak_rss_mib: peaks(&after),
            ..run
        }
    }

    /// The echo service under the same arrivals: four calls per student.
    async fn echo_open(&self, channels: &Arc<Vec<Channel>>, echo: &Proc) -> OpenRun {
        let students = self.settings.students;
        echo.reset_peak();
        let before = echo.sample().unwrap_or_default();
        let load = {
            let (channels, tokens) = (channels.clone(), self.students.clone());
            let id: Arc<str> = uuid::Uuid::now_v7().to_string().into();
            open_loop::run(students, self.interval(), self.settings.in_flight, move |i, due| {
                let mut client = EchoServiceClient::new(channels[i % channels.len()].clone());
                let token = tokens[i].clone();
                let id = id.clone();
                async move {
                    let mut watch = Stopwatch::new(due);
                    let mut done = true;
                    for n in 0..CALLS.len() {
                        let request = EchoRequest {
                            attendance_id: id.to_string(),
                            selfie: Vec::new(),
                            request_id: format!("echo-{i}-{n}"),
                        };
                        let answer = client.echo(authed(request, &token)).await.map_err(Failure::from);
                        if watch.lap(ECHO, answer).is_none() {
                            done = false;
                            break;
                        }
                    }
                    (watch.log, done)
                }
            })
            .await
        };
        let after = echo.sample().unwrap_or_default();
        let run = open_run(&load, students, self.settings.arrival_rate(), &[ECHO]);
        println!(
            "    open loop, echo, {students} students x 4 calls at {:.0}/s: done in {:.1} s, p99 {:.2} ms",
            run.arrivals_per_sec,
            run.elapsed_secs,
            run.calls.first().map_or(0.0, |c| c.load.p99_ms)
        );
        OpenRun {
            cpu_us_per_student: BTreeMap::from([(
                echo.name.to_owned(),
                (after.cpu_secs - before.cpu_secs) * 1e6 / students as f64,
            )]),
            peak_rss_mib: BTreeMap::from([(echo.name.to_owned(), after.peak_rss_kib as f64 / 1024.0)]),
            ..run
        }
    }
}

/// Signs people in without a password check: a random token whose hash
/// and sign-in go to Redis through `TokenStore::issue`, exactly what Login
/// does after the check (with the stack's six-hour lifetime). Login itself
/// is argon2id-bound (see the setup line); running it for 21,000 users
/// would take minutes and measure nothing this scenario is about.
async fn issue_tokens<'p>(
    bench: &Bench<'_>,
    people: impl Iterator<Item = &'p Person>,
    teachers: &[Person],
) -> anyhow::Result<Vec<Token>> {
    let keys = Keys::new(&bench.stack.key_prefix).map_err(anyhow::Error::msg)?;
    let pool = attn_store::redis::connect_pool(&bench.stack.redis_settings()).await?;
    let tokens = TokenStore::new(pool.clone(), keys);
    let is_teacher: std::collections::HashSet<&str> = teachers.iter().map(|t| t.number.as_str()).collect();
    let issued = futures::stream::iter(people)
        .map(|person| {
            let tokens = tokens.clone();
            let role = if is_teacher.contains(person.number.as_str()) { Role::Teacher } else { Role::Student };
            async move {
                let token: String = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
                    .chars()
                    .take(43)
                    .collect();
                let started_ms = now_ms();
                let sign_in = SignIn {
                    login_id: uuid::Uuid::now_v7(),
                    school_number: person.number.clone(),
                    full_name: person.name.clone(),
                    role,
                    photo_url: None,
                    started_ms,
                    expires_ms: started_ms + 6 * 3600 * 1000,
                };
                tokens.issue(&hash_token(&token), &sign_in).await?;
                anyhow::Ok(format!("Bearer {token}").parse::<Token>()?)
            }
        })
        .buffered(64)
        .try_collect()
        .await;
    let _ = pool.quit().await;
    issued
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn open_run(load: &OpenLoad, students: usize, rate: f64, calls: &[&str]) -> OpenRun {
    let lag = &load.start_lag_us;
    OpenRun {
        students,
        arrivals_per_sec: rate,
        elapsed_secs: load.elapsed.as_secs_f64(),
        students_completed: load.users_completed,
        waited_for_a_slot: load.waited_for_a_slot,
        start_lag: Latency {
            p50_ms: load::quantile_ms(lag, 0.50),
            p99_ms: load::quantile_ms(lag, 0.99),
            p999_ms: load::quantile_ms(lag, 0.999),
        },
        calls: calls
            .iter()
            .map(|&call| OpenCall {
                call: call.to_owned(),
                load: load.calls.get(call).map_or_else(|| Load::empty().figures(), Load::figures),
            })
            .collect(),
        cpu_us_per_student: BTreeMap::new(),
        redis_commands_per_student: BTreeMap::new(),
        peak_rss_mib: BTreeMap::new(),
    }
}

/// Each process's peak RSS since the window started, MiB.
fn peaks(after: &BTreeMap<&'static str, ProcSample>) -> BTreeMap<String, f64> {
    after.iter().map(|(name, s)| ((*name).to_owned(), s.peak_rss_kib as f64 / 1024.0)).collect()
}

/// Searches for the lesson; the student's own session must be the one found.
async fn find(channel: Channel, token: &Token, lesson: &str, expected: &str) -> Result<String, Failure> {
    let request = FindActiveAttendancesRequest { lesson_name: lesson.to_owned(), ..Default::default() };
    let found = StudentServiceClient::new(channel).find_active_attendances(authed(request, token)).await?.into_inner();
    match found.attendances.as_slice() {
        [one] if one.attendance_id == expected => Ok(one.attendance_id.clone()),
        other => Err(Failure::wrong_outcome(format!(
            "searching {lesson:?} found {:?}, expected only {expected}",
            other.iter().map(|a| a.attendance_id.as_str()).collect::<Vec<_>>()
        ))),
    }
}

async fn attend(channel: Channel, token: &Token, id: &str, request_id: String) -> Result<(), Failure> {
    let request = AttendRequest { attendance_id: id.to_owned(), selfie: Vec::new(), request_id, ..Default::default() };
    let answer = StudentServiceClient::new(channel).attend(authed(request, token)).await?.into_inner();
    attended(answer.record.unwrap_or_default().status(), "Attend")
}

async fn my_record(channel: Channel, token: &Token, id: &str) -> Result<(), Failure> {
    let request = GetMyRecordRequest { attendance_id: id.to_owned() };
    let answer = StudentServiceClient::new(channel).get_my_record(authed(request, token)).await?.into_inner();
    attended(answer.record.unwrap_or_default().status(), "GetMyRecord")
}

/// The first page of the student's history must hold today's record.
async fn my_history(channel: Channel, token: &Token, id: &str) -> Result<(), Failure> {
    let request = ListMyAttendanceRequest::default();
    let answer = StudentServiceClient::new(channel).list_my_attendance(authed(request, token)).await?.into_inner();
    let entry = answer.entries.iter().find(|e| e.attendance.as_ref().is_some_and(|a| a.attendance_id == id));
    match entry.and_then(|e| e.record.as_ref()) {
        Some(record) => attended(record.status(), "ListMyAttendance"),
        None => Err(Failure::wrong_outcome(format!("ListMyAttendance does not list session {id}"))),
    }
}

fn attended(status: RecordStatus, call: &str) -> Result<(), Failure> {
    if status == RecordStatus::Attended {
        Ok(())
    } else {
        Err(Failure::wrong_outcome(format!("{call}: the record is {status:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One round's run of `calls` calls in `secs`, at `cpu_us` per call.
    fn round(calls: u64, secs: u64, cpu_us: f64) -> (Load, CallRun) {
        let mut load = Load::empty();
        for _ in 0..calls {
            load.record(Duration::from_millis(2), Ok(()));
        }
        load.elapsed = Duration::from_secs(secs);
        let run = CallRun {
            call: ATTEND.into(),
            load: load.figures(),
            round_throughputs: Vec::new(),
            cpu_us_per_call: BTreeMap::from([("attendance-service".to_owned(), cpu_us)]),
            redis_commands_per_call: BTreeMap::from([("evalsha".to_owned(), 1.0)]),
        };
        (load, run)
    }

    #[test]
    fn rounds_pool_by_calls_and_keep_each_rounds_throughput() {
        let mut rounds = CallRounds::default();
        let (load, run) = round(100, 1, 100.0);
        rounds.add(load, run);
        let (load, run) = round(300, 2, 200.0);
        rounds.add(load, run);
        let pooled = rounds.pooled(ATTEND);
        assert_eq!(pooled.round_throughputs, [100.0, 150.0]);
        assert_eq!(pooled.load.calls, 400);
        assert!((pooled.load.throughput - 400.0 / 3.0).abs() < 1e-9, "calls over the rounds' summed time");
        assert_eq!(pooled.cpu_us_per_call.get("attendance-service"), Some(&175.0), "weighted by calls");
        assert_eq!(pooled.redis_commands_per_call.get("evalsha"), Some(&1.0));
    }
}
