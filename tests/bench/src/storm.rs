//! Scenarios 1, 2 and 4: the check-in storm (options 1 and 2) with a
//! teacher watching the roster, alternating with the same load against the
//! bare echo service, round by round.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use attn_proto::v1::{AttendRequest, RecordStatus, SecurityOption, student_service_client::StudentServiceClient};
use serde::Serialize;

use crate::{
    bench::Bench,
    clients::{authed, connect_many},
    echo::pb::{EchoRequest, echo_service_client::EchoServiceClient},
    live_roster::{RosterFigures, Watcher, stamp},
    load::{self, Failure, Load, LoadFigures},
    procs::{self, Proc, ProcFigures},
    redis_probe::{self, RedisFigures},
    stats::median,
};

/// How long the roster may take to catch up after the last reply.
const ROSTER_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct AttnRun {
    pub round: usize,
    pub security_option: u8,
    pub load: LoadFigures,
    pub live_roster: RosterFigures,
    pub processes: BTreeMap<String, ProcFigures>,
    /// CPU time of all ATTN processes per check-in, in microseconds.
    pub server_cpu_us_per_check_in: f64,
    pub redis: RedisFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct EchoRun {
    pub round: usize,
    pub load: LoadFigures,
    pub processes: BTreeMap<String, ProcFigures>,
    pub server_cpu_us_per_call: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub round: usize,
    pub option1_over_echo: f64,
    pub option2_over_echo: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub students: usize,
    pub concurrency: usize,
    pub channels: usize,
    pub attn: Vec<AttnRun>,
    pub echo: Vec<EchoRun>,
    pub pairs: Vec<Pair>,
    pub median_option1_over_echo: Option<f64>,
    pub median_option2_over_echo: Option<f64>,
    /// Latency over every option-2 round together.
    pub option2_all_rounds: Latency,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

pub async fn run(bench: &Bench<'_>, echo: &Proc, echo_url: &str) -> anyhow::Result<StormReport> {
    let settings = &bench.settings;
    let echo_channels = Arc::new(connect_many(echo_url, settings.channels).await?);
    let (mut attn, mut echo_runs, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    let mut option2_latency = Vec::new();
    for round in 1..=settings.rounds {
        let mut throughput = [0.0; 2];
        for option in [SecurityOption::Manual, SecurityOption::Network] {
            let (run, latency) = attn_storm(bench, round, option).await?;
            println!(
                "  round {round} option {}: {:>7.0} check-ins/s  p99 {:>6.2} ms  errors {}  roster p99 {:.2} ms missed {}",
                option as u8,
                run.load.throughput,
                run.load.p99_ms,
                run.load.calls - run.load.ok,
                run.live_roster.delay.p99_ms,
                run.live_roster.missed
            );
            throughput[option as usize - 1] = run.load.throughput;
            if option == SecurityOption::Network {
                option2_latency.push(latency);
            }
            attn.push(run);
        }
        let run = echo_storm(bench, round, &echo_channels, echo).await;
        println!("  round {round} echo:     {:>7.0} calls/s      p99 {:>6.2} ms", run.load.throughput, run.load.p99_ms);
        pairs.push(Pair {
            round,
            option1_over_echo: throughput[0] / run.load.throughput.max(1e-9),
            option2_over_echo: throughput[1] / run.load.throughput.max(1e-9),
        });
        echo_runs.push(run);
    }
    let all = load::merged(option2_latency);
    let errors = attn.iter().map(|run| run.load.calls - run.load.ok).sum();
    Ok(StormReport {
        students: settings.students,
        concurrency: settings.concurrency,
        channels: settings.channels,
        median_option1_over_echo: median(&pairs.iter().map(|p| p.option1_over_echo).collect::<Vec<_>>()),
        median_option2_over_echo: median(&pairs.iter().map(|p| p.option2_over_echo).collect::<Vec<_>>()),
        option2_all_rounds: Latency {
            p50_ms: load::quantile_ms(&all, 0.50),
            p99_ms: load::quantile_ms(&all, 0.99),
            p999_ms: load::quantile_ms(&all, 0.999),
        },
        attn,
        echo: echo_runs,
        pairs,
        errors,
    })
}

async fn attn_storm(
    bench: &Bench<'_>,
    round: usize,
    option: SecurityOption,
) -> anyhow::Result<(AttnRun, hdrhistogram::Histogram<u64>)> {
    let settings = &bench.settings;
    let n = settings.students;
    let session = bench
        .start_session(&format!("Bench storm round {round} option {}", option as u8), option)
        .await
        .map_err(|status| anyhow::anyhow!("StartAttendance failed: {status}"))?;
    let id: Arc<str> = session.attendance_id.clone().into();
    let base = Instant::now();
    let watcher =
        Watcher::start(bench.control.clone(), &bench.teacher, &id, bench.people.index.clone(), n, base).await?;
    let replied: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());

    let procs_before = bench.stack.start_window();
    let redis_before = bench.redis.sample().await;
    let load = {
        let (channels, tokens, replied, id) =
            (bench.channels.clone(), bench.students.clone(), replied.clone(), id.clone());
        load::run(n, settings.concurrency, move |i| {
            let mut client = StudentServiceClient::new(channels[i % channels.len()].clone());
            let request = AttendRequest {
                attendance_id: id.to_string(),
                selfie: Vec::new(),
                request_id: format!("r{round}-o{}-{i}", option as u8),
                ..Default::default()
            };
            let request = authed(request, &tokens[i]);
            let replied = replied.clone();
            async move {
                let answer = client.attend(request).await?.into_inner();
                let record = answer.record.unwrap_or_default();
                if record.status() != RecordStatus::Attended {
                    return Err(Failure::wrong_outcome(format!(
                        "record is {:?} ({})",
                        record.status(),
                        record.fail_reason
                    )));
                }
                replied[i].store(stamp(base), Ordering::Release);
                Ok(())
            }
        })
        .await
    };
    let procs_after = bench.stack.sample();
    let redis_after = bench.redis.sample().await;
    let live_roster = watcher.finish(&replied, ROSTER_GRACE).await;
    bench.finish_session(&id).await?;

    let processes = procs::figures(&procs_before, &procs_after);
    let cpu: f64 = processes.iter().filter(|(name, _)| is_attn(name)).map(|(_, f)| f.cpu_secs).sum();
    let run = AttnRun {
        round,
        security_option: option as u8,
        server_cpu_us_per_check_in: cpu * 1e6 / (load.ok.max(1) as f64),
        redis: redis_probe::figures(&redis_before, &redis_after, load.ok),
        live_roster,
        processes,
        load: load.figures(),
    };
    Ok((run, load.latency_us))
}

/// The stand-in is not part of ATTN; its CPU is reported but not counted.
pub fn is_attn(name: &str) -> bool {
    matches!(name, "attendance-service" | "verification-service" | "sweeper-service")
}

async fn echo_storm(
    bench: &Bench<'_>,
    round: usize,
    channels: &Arc<Vec<tonic::transport::Channel>>,
    echo: &Proc,
) -> EchoRun {
    let settings = &bench.settings;
    echo.reset_peak();
    let before = echo.sample().unwrap_or_default();
    // The same request bytes and the same authorization metadata as a check-in.
    let id: Arc<str> = uuid::Uuid::now_v7().to_string().into();
    let load: Load = {
        let (channels, tokens) = (channels.clone(), bench.students.clone());
        load::run(settings.students, settings.concurrency, move |i| {
            let mut client = EchoServiceClient::new(channels[i % channels.len()].clone());
            let request = EchoRequest {
                attendance_id: id.to_string(),
                selfie: Vec::new(),
                request_id: format!("r{round}-o2-{i}"),
            };
            let request = authed(request, &tokens[i]);
            async move {
                client.echo(request).await?;
                Ok(())
            }
        })
        .await
    };
    let after = echo.sample().unwrap_or_default();
    let processes = procs::figures(&BTreeMap::from([(echo.name, before)]), &BTreeMap::from([(echo.name, after)]));
    let cpu = after.cpu_secs - before.cpu_secs;
    EchoRun { round, server_cpu_us_per_call: cpu * 1e6 / (load.ok.max(1) as f64), load: load.figures(), processes }
}
