//! The load generator: `total` calls at a fixed concurrency, each worker
//! timing its own calls into its own histogram (merged at the end), so no
//! lock sits on the measured path.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::Serialize;
use tonic::Status;

/// Why one call did not do what it should: a gRPC status code, or
/// `WrongOutcome` when the call succeeded but its answer was not the one
/// expected (e.g. a check-in recorded as failed).
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub fn wrong_outcome(message: impl Into<String>) -> Self {
        Self { kind: "WrongOutcome".into(), message: message.into() }
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Self { kind: format!("{:?}", status.code()), message: status.message().to_owned() }
    }
}

/// Latencies are recorded in microseconds, 1 µs to 10 min (an open loop
/// that falls behind queues for minutes), 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub struct Load {
    pub ok: u64,
    /// gRPC status code name (or `WrongOutcome`) → count.
    pub errors: BTreeMap<String, u64>,
    /// One message per failing code, to say what went wrong.
    pub error_examples: BTreeMap<String, String>,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

/// The figures of one run, as printed and written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    pub calls: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_examples: BTreeMap<String, String>,
    pub elapsed_secs: f64,
    /// Successful calls per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Default for Load {
    fn default() -> Self {
        Self::empty()
    }
}

impl Load {
    pub fn empty() -> Self {
        Self {
            ok: 0,
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            elapsed: Duration::ZERO,
            latency_us: histogram(),
        }
    }

    /// Counts one call that took `took` (failed calls are timed too).
    pub fn record(&mut self, took: Duration, result: Result<(), Failure>) {
        self.latency_us.saturating_record(took.as_micros().max(1) as u64);
        match result {
            Ok(()) => self.ok += 1,
            Err(failure) => {
                *self.errors.entry(failure.kind.clone()).or_default() += 1;
                self.error_examples.entry(failure.kind).or_insert(failure.message);
            }
        }
    }

    /// Adds another run of the same call: counts and latencies add up, and
    /// so do the elapsed times (so throughput is over both runs' time).
    pub fn absorb(&mut self, other: Load) {
        self.ok += other.ok;
        for (code, count) in other.errors {
            *self.errors.entry(code).or_default() += count;
        }
        for (code, example) in other.error_examples {
            self.error_examples.entry(code).or_insert(example);
        }
        self.elapsed += other.elapsed;
        self.latency_us.add(other.latency_us).expect("histograms with the same bounds add");
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn figures(&self) -> LoadFigures {
        let ms = |q: f64| quantile_ms(&self.latency_us, q);
        LoadFigures {
            calls: self.ok + self.error_count(),
            ok: self.ok,
            errors: self.errors.clone(),
            error_examples: self.error_examples.clone(),
            elapsed_secs: self.elapsed.as_secs_f64(),
            throughput: self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.latency_us.max() as f64 / 1000.0,
        }
    }
}

pub fn quantile_ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    if histogram.is_empty() { 0.0 } else { histogram.value_at_quantile(q) as f64 / 1000.0 }
}

pub fn merged(histograms: impl IntoIterator<Item = Histogram<u64>>) -> Histogram<u64> {
    let mut all = histogram();
    for h in histograms {
        all.add(h).expect("histograms with the same bounds add");
    }
    all
}

/// Runs `call(i)` for every `i` in `0..total`, `concurrency` at a time.
pub async fn run<F, Fut>(total: usize, concurrency: usize, call: F) -> Load
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                let mut worker = Worker::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return worker;
                    }
                    let sent = Instant::now();
                    let result = call(i).await;
                    worker.record(sent.elapsed(), result);
                }
            })
        })
        .collect();
    let mut load = Load::empty();
    for worker in workers {
        let worker = worker.await.expect("a load worker panicked");
        load.ok += worker.ok;
        for (code, (count, example)) in worker.errors {
            *load.errors.entry(code.clone()).or_default() += count;
            load.error_examples.entry(code).or_insert(example);
        }
        load.latency_us.add(worker.latency_us).expect("histograms with the same bounds add");
    }
    load.elapsed = started.elapsed();
    load
}

struct Worker {
    ok: u64,
    errors: BTreeMap<String, (u64, String)>,
    latency_us: Histogram<u64>,
}

impl Default for Worker {
    fn default() -> Self {
        Self { ok: 0, errors: BTreeMap::new(), latency_us: histogram() }
    }
}

impl Worker {
    fn record(&mut self, took: Duration, result: Result<(), Failure>) {
        // Failed calls are timed too: a slow error is still a slow answer.
        self.latency_us.saturating_record(took.as_micros().max(1) as u64);
        match result {
            Ok(()) => self.ok += 1,
            Err(failure) => {
                let entry = self.errors.entry(failure.kind).or_insert((0, String::new()));
                entry.0 += 1;
                if entry.1.is_empty() {
                    entry.1 = failure.message;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_made_once_and_errors_are_counted_by_code() {
        let load =
            run(100, 8, |i| async move { if i % 10 == 0 { Err(Status::unavailable("down").into()) } else { Ok(()) } })
                .await;
        assert_eq!(load.ok, 90);
        assert_eq!(load.errors.get("Unavailable"), Some(&10));
        assert_eq!(load.latency_us.len(), 100);
        assert_eq!(load.error_examples.get("Unavailable").map(String::as_str), Some("down"));
    }

    #[test]
    fn absorbed_runs_add_their_calls_errors_time_and_latencies() {
        let mut first = Load::empty();
        first.record(Duration::from_millis(1), Ok(()));
        first.elapsed = Duration::from_secs(1);
        let mut second = Load::empty();
        second.record(Duration::from_millis(3), Ok(()));
        second.record(Duration::from_millis(5), Err(Status::unavailable("down").into()));
        second.elapsed = Duration::from_secs(3);
        first.absorb(second);
        let figures = first.figures();
        assert_eq!((figures.calls, figures.ok), (3, 2));
        assert_eq!(figures.errors.get("Unavailable"), Some(&1));
        assert!((figures.throughput - 0.5).abs() < 1e-9, "2 ok calls over 4 s");
        assert!((figures.max_ms - 5.0).abs() < 0.01);
    }
}
