//! attn-bench: measures ATTN against the machine's own limits, in one run.
//!
//! It starts the stack as child processes from release binaries (or targets
//! a running one), imports its own roster, signs its students in, and runs
//! the scenarios of issue 6: the check-in storm with the echo baseline and
//! the live roster, the archive against a bare COPY, and face results; and
//! issue 11's campus morning (many sessions, many students, closed and open
//! loop); issue 12's cost of metrics (the storm with metrics on and off);
//! issue 13's semester (course reports over a seeded semester, against a
//! bare COPY).
//! See `tests/bench/README.md`.

mod archive;
mod bench;
mod campus;
mod cli;
mod clients;
mod echo;
mod face;
mod face_proxy;
mod live_roster;
mod load;
mod metrics_cost;
mod open_loop;
mod procs;
mod redis_probe;
mod report;
mod roster;
mod semester;
mod stack;
mod stats;
mod storm;
mod tables;
mod targets;

use std::{path::Path, process::ExitCode};

use clap::Parser;

use crate::{
    bench::Bench,
    cli::{Cli, Command, Scenario, Settings},
    report::Report,
    stack::Stack,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::EchoServer { addr }) => echo::serve(addr).await.map(|()| ExitCode::SUCCESS),
        None => run(Settings::from_args(cli.run)).await,
    };
    result.unwrap_or_else(|err| {
        eprintln!("attn-bench: {err:#}");
        ExitCode::FAILURE
    })
}

async fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    if settings.build {
        bench::build_release()?;
    }
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let log_dir = std::env::temp_dir().join(format!("attn-bench-{run_id}"));
    std::fs::create_dir_all(&log_dir)?;
    println!("attn-bench run {run_id}; service logs in {}", log_dir.display());

    // `kill <pid>` must stop the services too, as Ctrl-C does: handled
    // from here on, the stack is cleaned up below (a SIGTERM during the
    // start is answered once it is up).
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut stack = match Stack::start(&settings, &run_id, &log_dir).await {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("the stack did not start; logs kept in {}", log_dir.display());
            return Err(err);
        }
    };
    let outcome = tokio::select! {
        outcome = scenarios(&settings, &stack, &run_id, &log_dir) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated (SIGTERM)")),
    };
    stack.cleanup().await;
    let report = match outcome {
        Ok(report) => report,
        Err(err) => {
            eprintln!("logs kept in {}", log_dir.display());
            return Err(err);
        }
    };

    print!("{}", report.render());
    if let Some(path) = &settings.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("JSON written to {}", path.display());
    }
    if report.failures.is_empty() && !settings.keep_logs {
        let _ = std::fs::remove_dir_all(&log_dir);
    } else {
        println!("service logs kept in {}", log_dir.display());
    }
    Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prepares the data, then runs each chosen scenario. A scenario that fails
/// outright is recorded as a stack failure and the others still run.
async fn scenarios(settings: &Settings, stack: &Stack, run_id: &str, log_dir: &Path) -> anyhow::Result<Report> {
    let mut report = Report::new(settings.clone());
    let bench = Bench::prepare(settings.clone(), stack, run_id, log_dir).await?;
    report.setup = Some(bench.setup.clone());

    if settings.runs(Scenario::Storm) {
        println!("\ncheck-in storm, echo baseline and live roster ...");
        let (echo, echo_url) = echo::start(log_dir).await?;
        match storm::run(&bench, &echo, &echo_url).await {
            Ok(storm) => report.storm = Some(storm),
            Err(err) => report.failures.push(format!("storm: {err:#}")),
        }
        echo.stop().await;
    }
    if settings.runs(Scenario::Archive) {
        println!("\narchive ...");
        match archive::run(&bench).await {
            Ok(archive) => report.archive = archive,
            Err(err) => report.failures.push(format!("archive: {err:#}")),
        }
    }
    if settings.runs(Scenario::Face) {
        println!("\nface results ...");
        match face::run(&bench).await {
            Ok(face) => report.face = Some(face),
            Err(err) => report.failures.push(format!("face: {err:#}")),
        }
    }
    if settings.runs(Scenario::Campus) {
        let c = &settings.campus;
        println!(
            "\ncampus: {} teachers, {} students, {} connections, open sessions {:?} ...",
            c.teachers, c.students, c.connections, c.levels
        );
        let (echo, echo_url) = echo::start(log_dir).await?;
        match campus::run(&bench, &echo, &echo_url).await {
            Ok(campus) => report.campus = Some(campus),
            Err(err) => report.failures.push(format!("campus: {err:#}")),
        }
        echo.stop().await;
    }
    if settings.runs(Scenario::Metrics) {
        println!("\nmetrics on and off ...");
        let on = stack.start_pair(settings, log_dir, true).await;
        let off = stack.start_pair(settings, log_dir, false).await;
        match (&on, &off) {
            (Ok(on), Ok(off)) => match metrics_cost::run(&bench, on, off).await {
                Ok(metrics) => report.metrics = Some(metrics),
                Err(err) => report.failures.push(format!("metrics: {err:#}")),
            },
            (Err(err), _) | (_, Err(err)) => report.failures.push(format!("metrics: {err:#}")),
        }
        for (procs, _) in [on, off].into_iter().flatten() {
            for proc in procs {
                proc.stop().await;
            }
        }
    }
    if settings.runs(Scenario::Semester) {
        let s = &settings.semester;
        println!(
            "\nsemester: {} weeks x {} sessions a week x {} courses x {} students ...",
            s.weeks, s.sessions_per_week, s.courses, s.students_per_course
        );
        match semester::run(&bench).await {
            Ok(semester) => report.semester = Some(semester),
            Err(err) => report.failures.push(format!("semester: {err:#}")),
        }
    }
    report.run_peak_rss_mib = stack.run_peaks();
    report.conclude();
    Ok(report)
}
