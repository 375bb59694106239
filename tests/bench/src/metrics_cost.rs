//! Issue 12: what measuring costs. The option-2 check-in storm, round by
//! round, against two attendance- and verification-service pairs started
//! for it on the stack's Redis and database, alike but for
//! `ATTN_*_METRICS_ADDR` (on: admin listeners; off: `off`), so the same
//! students, tokens and teacher serve both. Neither serves the teacher's
//! calls (the stack's own pair does), so nothing but metrics differs
//! between them. Which side goes first alternates from round to round.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::bail;
use attn_proto::v1::{AttendRequest, RecordStatus, SecurityOption, student_service_client::StudentServiceClient};
use serde::Serialize;
use tonic::transport::Channel;

use crate::{
    bench::Bench,
    clients::{authed, connect_many},
    load::{self, Failure, LoadFigures},
    procs::ProcSample,
    stack::Pair,
    stats::median,
};

/// The processes whose CPU a check-in costs (the sweeper is idle here).
const MEASURED: [&str; 2] = ["attendance-service", "verification-service"];

#[derive(Debug, Clone, Serialize)]
pub struct MetricsRun {
    pub round: usize,
    pub metrics_on: bool,
    pub load: LoadFigures,
    /// CPU time of attendance- and verification-service per check-in, in microseconds.
    pub server_cpu_us_per_check_in: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricsPair {
    pub round: usize,
    /// Check-ins per second with metrics on, over the same without.
    pub on_over_off: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricsCostReport {
    pub students: usize,
    pub concurrency: usize,
    pub runs: Vec<MetricsRun>,
    pub pairs: Vec<MetricsPair>,
    pub median_on_over_off: Option<f64>,
    /// Throughput lost to metrics, in percent of the throughput without (median of the rounds).
    pub cost_percent: Option<f64>,
}

/// One side of the comparison: where its check-ins go and what to sample.
struct Side<'a> {
    metrics_on: bool,
    channels: Arc<Vec<Channel>>,
    sample: Box<dyn Fn() -> BTreeMap<&'static str, ProcSample> + 'a>,
}

/// `on` and `off`: the pairs with metrics on and off.
pub async fn run(bench: &Bench<'_>, on: &Pair, off: &Pair) -> anyhow::Result<MetricsCostReport> {
    let settings = &bench.settings;
    if bench.stack.procs.is_empty() {
        bail!("the metrics scenario starts attendance-services of its own: it cannot run with --target");
    }
    let sides = [side(true, on, settings.channels).await?, side(false, off, settings.channels).await?];
    let mut runs = Vec::new();
    let mut pairs = Vec::new();
    for round in 1..=settings.rounds {
        let mut throughput = [0.0; 2];
        // Odd rounds measure metrics on first, even rounds off first.
        let order: [usize; 2] = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for index in order {
            let run = check_in_storm(bench, round, &sides[index]).await?;
            println!(
                "  round {round} metrics {:>3}: {:>7.0} check-ins/s  p99 {:>6.2} ms  {:>5.0} µs CPU/check-in  errors {}",
                if run.metrics_on { "on" } else { "off" },
                run.load.throughput,
                run.load.p99_ms,
                run.server_cpu_us_per_check_in,
                run.load.calls - run.load.ok
            );
            throughput[index] = run.load.throughput;
            runs.push(run);
        }
        pairs.push(MetricsPair { round, on_over_off: throughput[0] / throughput[1].max(1e-9) });
    }
    let median_on_over_off = median(&pairs.iter().map(|p| p.on_over_off).collect::<Vec<_>>());
    Ok(MetricsCostReport {
        students: settings.students,
        concurrency: settings.concurrency,
        runs,
        pairs,
        median_on_over_off,
        cost_percent: median_on_over_off.map(|ratio| (1.0 - ratio) * 100.0),
    })
}

async fn side(metrics_on: bool, (procs, url): &Pair, channels: usize) -> anyhow::Result<Side<'_>> {
    Ok(Side {
        metrics_on,
        channels: Arc::new(connect_many(url, channels).await?),
        sample: Box::new(move || procs.iter().filter_map(|p| Some((p.name, p.sample().ok()?))).collect()),
    })
}

async fn check_in_storm(bench: &Bench<'_>, round: usize, side: &Side<'_>) -> anyhow::Result<MetricsRun> {
    let settings = &bench.settings;
    let label = if side.metrics_on { "on" } else { "off" };
    let session = bench
        .start_session(&format!("Bench metrics {label} round {round}"), SecurityOption::Network)
        .await
        .map_err(|status| anyhow::anyhow!("StartAttendance failed: {status}"))?;
    let id: Arc<str> = session.attendance_id.clone().into();
    let before = (side.sample)();
    let load = {
        let (channels, tokens, id) = (side.channels.clone(), bench.students.clone(), id.clone());
        load::run(settings.students, settings.concurrency, move |i| {
            let mut client = StudentServiceClient::new(channels[i % channels.len()].clone());
            let request = AttendRequest {
                attendance_id: id.to_string(),
                selfie: Vec::new(),
                request_id: format!("m{round}-{i}"),
                ..Default::default()
            };
            let request = authed(request, &tokens[i]);
            async move {
                let record = client.attend(request).await?.into_inner().record.unwrap_or_default();
                if record.status() != RecordStatus::Attended {
                    return Err(Failure::wrong_outcome(format!(
                        "record is {:?} ({})",
                        record.status(),
                        record.fail_reason
                    )));
                }
                Ok(())
            }
        })
        .await
    };
    let after = (side.sample)();
    bench.finish_session(&id).await?;
    let cpu: f64 =
        MEASURED.iter().filter_map(|name| Some(after.get(name)?.cpu_secs - before.get(name)?.cpu_secs)).sum();
    Ok(MetricsRun {
        round,
        metrics_on: side.metrics_on,
        server_cpu_us_per_check_in: cpu * 1e6 / (load.ok.max(1) as f64),
        load: load.figures(),
    })
}
