//! sweeper-service's own metrics: its jobs, and the gauges that need Redis
//! (the face queue and the sweep lag), read when Prometheus scrapes so that
//! no check-in pays for them.

use attn_store::{LiveStore, face_queue::FaceQueue};
use attn_telemetry::Metrics;

use crate::jobs::{JobName, Outcome};

pub const JOB_RUNS: &str = "attn_job_runs_total";
pub const JOB_SECONDS: &str = "attn_job_duration_seconds";
pub const ARCHIVED_RECORDS: &str = "attn_archived_records_total";

pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Partial => "partial",
        Outcome::Failed => "failed",
    }
}

/// One round of `job` finished.
pub fn job_run(metrics: &Metrics, job: JobName, outcome: Outcome, seconds: f64, records_archived: u64) {
    metrics.counter(JOB_RUNS, &[("job", job.as_str()), ("outcome", outcome_label(outcome))]).increment(1);
    metrics.histogram(JOB_SECONDS, &[("job", job.as_str())]).record(seconds);
    if records_archived > 0 {
        metrics.counter(ARCHIVED_RECORDS, &[]).increment(records_archived);
    }
}

/// Describes the families and reads the Redis gauges at each scrape.
pub fn register(metrics: &Metrics, live: LiveStore, face_queue: FaceQueue) {
    metrics.describe_counter(JOB_RUNS, "Job rounds run on this replica, by job and outcome");
    metrics.describe_histogram(JOB_SECONDS, "How long job rounds took, in seconds");
    metrics.describe_counter(ARCHIVED_RECORDS, "Attendance records written to PostgreSQL by sweep_attendances");
    metrics.describe_gauge("attn_face_queue_depth", "Face checks waiting for the gateway's verdict");
    metrics.describe_gauge("attn_face_queue_oldest_seconds", "Age of the longest-waiting face check, 0 if none");
    metrics.describe_gauge("attn_sweep_lag_seconds", "Age of the oldest ended session not yet archived, 0 if none");
    metrics.counter(ARCHIVED_RECORDS, &[]).increment(0);
    let depth = metrics.gauge("attn_face_queue_depth", &[]);
    let oldest = metrics.gauge("attn_face_queue_oldest_seconds", &[]);
    let lag = metrics.gauge("attn_sweep_lag_seconds", &[]);
    metrics.add_collector(move || {
        let (live, face_queue) = (live.clone(), face_queue.clone());
        let (depth, oldest, lag) = (depth.clone(), oldest.clone(), lag.clone());
        async move {
            let now = chrono::Utc::now().timestamp_millis();
            // A Redis outage leaves the last values; the outage shows elsewhere.
            if let Ok(waiting) = face_queue.len().await {
                depth.set(waiting as f64);
            }
            if let Ok(submitted) = face_queue.oldest_submitted_ms().await {
                oldest.set(age_seconds(now, submitted));
            }
            if let Ok(ended) = live.oldest_ended_ms(now).await {
                lag.set(age_seconds(now, ended));
            }
        }
    });
}

/// Seconds from `since_ms` to `now_ms`; 0 when there is nothing (or a clock step back).
pub fn age_seconds(now_ms: i64, since_ms: Option<i64>) -> f64 {
    since_ms.map_or(0.0, |since| (now_ms - since).max(0) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_queue_or_index_has_no_age() {
        assert_eq!(age_seconds(10_000, None), 0.0);
        assert_eq!(age_seconds(10_000, Some(7_500)), 2.5);
        assert_eq!(age_seconds(10_000, Some(12_000)), 0.0);
    }
}
