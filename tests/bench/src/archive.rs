//! Scenario 3: one finished session of M records archived by
//! `sweep_attendances` (through `SweeperService.RunJob`), against a bare
//! `COPY` of the same rows into a scratch table, pair by pair.
//!
//! The records are written with `attn_store::LiveStore::attend`, the same
//! Redis script attendance-service runs for a check-in, rather than through
//! the API: signing in 10,000 students would spend minutes hashing
//! passwords and measure nothing this scenario is about. The students are on
//! the imported roster (as in real life), so the sweep upserts existing users.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context as _, bail};
use attn_domain::Record;
use attn_proto::v1::{JobOutcome, RunJobRequest, SecurityOption, sweeper_service_client::SweeperServiceClient};
use attn_store::{Keys, LiveStore, live::AttendOutcome};
use fred::interfaces::ClientLike;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolCopyExt, PgPoolOptions};
use uuid::Uuid;

use crate::{
    bench::{Bench, STUCK},
    clients::{authed, connect},
    procs::{self, ProcFigures},
    stats::median,
};

#[derive(Debug, Clone, Serialize)]
pub struct SweepFigures {
    /// RunJob as the caller sees it.
    pub secs: f64,
    /// The run's own start and finish, as the sweeper reports them.
    pub server_secs: f64,
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveRun {
    pub round: usize,
    pub records: usize,
    pub sweep: SweepFigures,
    pub copy_secs: f64,
    pub sweep_over_copy: f64,
    pub processes: BTreeMap<String, ProcFigures>,
    /// Redis CPU during the sweep (reading the snapshot, removing the session).
    pub redis_cpu_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub records: usize,
    /// The sweep that first archived the storm's sessions (not compared).
    pub storm_sessions_sweep: SweepFigures,
    pub runs: Vec<ArchiveRun>,
    pub median_sweep_over_copy: Option<f64>,
    pub failures: Vec<String>,
}

pub async fn run(bench: &Bench<'_>) -> anyhow::Result<Option<ArchiveReport>> {
    let Some(sweeper_url) = &bench.stack.sweeper_url else {
        println!("  skipped: no sweeper-service (pass --sweeper with --target)");
        return Ok(None);
    };
    let records = bench.settings.archive_records.min(bench.people.students.len());
    let mut sweeper = SweeperServiceClient::new(connect(sweeper_url).await?);
    // Whatever ended before (the storm's sessions) goes first, so the timed
    // rounds archive exactly one session.
    let storm_sessions_sweep = sweep(bench, &mut sweeper).await?;
    let keys = Keys::new(&bench.stack.key_prefix).map_err(anyhow::Error::msg)?;
    let live = LiveStore::connect(&bench.stack.redis_settings(), keys).await?;
    let db = PgPoolOptions::new().max_connections(2).connect(&bench.stack.database_url).await?;
    let scratch = format!("attn_bench_copy_scratch_{}", Uuid::new_v4().simple());
    let create = format!("CREATE TABLE {scratch} (LIKE attendance_records INCLUDING ALL)");
    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&db).await.context("cannot create the COPY scratch table")?;

    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for round in 1..=bench.settings.rounds {
        let result = one_round(bench, &mut sweeper, &live, &db, &scratch, round, records).await;
        match result {
            Ok((run, problems)) => {
                println!(
                    "  round {round}: sweep {:.3} s (server {:.3} s), COPY {:.3} s, ratio {:.2}x",
                    run.sweep.secs, run.sweep.server_secs, run.copy_secs, run.sweep_over_copy
                );
                failures.extend(problems);
                runs.push(run);
            }
            Err(err) => {
                failures.push(format!("round {round}: {err:#}"));
                break;
            }
        }
    }
    let drop = format!("DROP TABLE IF EXISTS {scratch}");
    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&db).await;
    db.close().await;
    let _ = live.pool().quit().await;
    Ok(Some(ArchiveReport {
        records,
        storm_sessions_sweep,
        median_sweep_over_copy: median(&runs.iter().map(|r| r.sweep_over_copy).collect::<Vec<_>>()),
        runs,
        failures,
    }))
}

async fn one_round(
    bench: &Bench<'_>,
    sweeper: &mut SweeperServiceClient<tonic::transport::Channel>,
    live: &LiveStore,
    db: &PgPool,
    scratch: &str,
    round: usize,
    records: usize,
) -> anyhow::Result<(ArchiveRun, Vec<String>)> {
    let session = bench
        .start_session(&format!("Bench archive round {round}"), SecurityOption::Manual)
        .await
        .map_err(|status| anyhow::anyhow!("StartAttendance failed: {status}"))?;
    let id = Uuid::try_parse(&session.attendance_id)?;
    write_records(bench, live, id, records).await?;
    bench.finish_session(&session.attendance_id).await?;

    let before = bench.stack.start_window();
    let redis_before = bench.redis.sample().await;
    let sweep = sweep(bench, sweeper).await?;
    let after = bench.stack.sample();
    let redis = crate::redis_probe::figures(&redis_before, &bench.redis.sample().await, 1);
    let mut problems = Vec::new();
    for (count, want) in [("sessions_archived", 1), ("records_written", records as u64)] {
        let got = sweep.counts.get(count).copied().unwrap_or(0);
        if got != want {
            problems.push(format!("round {round}: sweep_attendances reported {count}={got}, expected {want}"));
        }
    }

    // The same rows, as PostgreSQL itself writes them out.
    let select = format!("COPY (SELECT * FROM attendance_records WHERE attendance_id = '{id}') TO STDOUT");
    let rows: Vec<u8> = db
        .copy_out_raw(&select)
        .await?
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {scratch}"))).execute(db).await?;
    let started = Instant::now();
    let mut copy = db.copy_in_raw(&format!("COPY {scratch} FROM STDIN")).await?;
    copy.send(rows).await?;
    let copied = copy.finish().await?;
    let copy_secs = started.elapsed().as_secs_f64();
    if copied != records as u64 {
        problems.push(format!("round {round}: the archive holds {copied} rows, expected {records}"));
    }
    Ok((
        ArchiveRun {
            round,
            records,
            sweep_over_copy: sweep.secs / copy_secs.max(1e-9),
            sweep,
            copy_secs,
            processes: procs::figures(&before, &after),
            redis_cpu_secs: redis.cpu_secs,
        },
        problems,
    ))
}

/// One record per student, written concurrently through the check-in script.
async fn write_records(bench: &Bench<'_>, live: &LiveStore, id: Uuid, records: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let outcomes: Vec<AttendOutcome> = futures::stream::iter(&bench.people.students[..records])
        .map(|student| async move {
            let now = now_ms();
            let record = Record::attended(&student.number, &student.name, now);
            live.attend(id, &record, None, now, 0).await
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let written = outcomes.iter().filter(|o| matches!(o, AttendOutcome::Written(_))).count();
    if written != records {
        bail!("only {written} of {records} records were written");
    }
    println!("  wrote {records} records in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `sweep_attendances` through RunJob; fails unless it succeeded.
pub async fn sweep(
    bench: &Bench<'_>,
    sweeper: &mut SweeperServiceClient<tonic::transport::Channel>,
) -> anyhow::Result<SweepFigures> {
    let started = Instant::now();
    let request = authed(RunJobRequest { name: "sweep_attendances".into() }, &bench.admin);
    let answer = tokio::time::timeout(STUCK, sweeper.run_job(request))
        .await
        .context("RunJob sweep_attendances did not answer within a minute")?
        .context("RunJob sweep_attendances failed")?;
    let secs = started.elapsed().as_secs_f64();
    let run = answer.into_inner().run.context("RunJob answered no run")?;
    if run.outcome() != JobOutcome::Succeeded {
        bail!("sweep_attendances ended {:?}: {}", run.outcome(), run.error);
    }
    let server_secs = match (&run.started_at, &run.finished_at) {
        (Some(start), Some(end)) => seconds_between(start, end),
        _ => 0.0,
    };
    Ok(SweepFigures { secs, server_secs, counts: run.counts.into_iter().collect() })
}

fn seconds_between(start: &prost_types::Timestamp, end: &prost_types::Timestamp) -> f64 {
    let nanos = |t: &prost_types::Timestamp| t.seconds as f64 + f64::from(t.nanos) / 1e9;
    nanos(end) - nanos(start)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
