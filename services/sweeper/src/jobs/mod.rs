//! The jobs, and the bookkeeping around them.
//!
//! A job is a plain async function that does one round and returns a
//! [`Summary`]; tests and `RunJob` call the same function the scheduler
//! does. [`Jobs::run`] wraps a round in a Redis lease (one replica at a
//! time), records its outcome for `ListJobs`, and logs one summary line.

mod attendances;
mod face_results;
mod users;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use attn_runtime::internal::VerificationClient;
use attn_store::{Archive, LiveStore, StoreError, TokenStore, face_queue::FaceQueue, lease::Lease};
use tracing::{Instrument as _, field::Empty};

pub use attendances::sweep_attendances;
pub use face_results::check_face_verification_results;
pub use users::sweep_users;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobName {
    SweepAttendances,
    SweepUsers,
    CheckFaceVerificationResults,
}

impl JobName {
    pub const ALL: [JobName; 3] =
        [JobName::SweepAttendances, JobName::SweepUsers, JobName::CheckFaceVerificationResults];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SweepAttendances => "sweep_attendances",
            Self::SweepUsers => "sweep_users",
            Self::CheckFaceVerificationResults => "check_face_verification_results",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|job| job.as_str() == name)
    }
}

/// What one round did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub counts: BTreeMap<&'static str, u64>,
    /// One line per item that failed and will be retried next round.
    pub failures: Vec<String>,
    /// Set when the round as a whole could not run.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Partial,
    Failed,
}

impl Summary {
    pub fn add(&mut self, what: &'static str, n: u64) {
        *self.counts.entry(what).or_default() += n;
    }

    pub fn count(&self, what: &str) -> u64 {
        self.counts.get(what).copied().unwrap_or(0)
    }

    pub fn fail_item(&mut self, note: String) {
        self.add("failures", 1);
        self.failures.push(note);
    }

    pub fn fail_round(&mut self, error: &StoreError) {
        self.fail_round_because(error.to_string());
    }

    pub fn fail_round_because(&mut self, why: String) {
        self.error = Some(why);
    }

    pub fn outcome(&self) -> Outcome {
        if self.error.is_some() {
            Outcome::Failed
        } else if self.failures.is_empty() {
            Outcome::Succeeded
        } else {
            Outcome::Partial
        }
    }
}

/// A finished (or running) round, as ListJobs reports it.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default)]
pub struct JobState {
    pub schedule: String,
    pub last_run: Option<JobRun>,
    pub runs: u64,
}

pub struct SweepSettings {
    pub grace: Duration,
    pub face_max_errors: u32,
    /// A job with no verdict this long after submission fails as timed out.
    pub face_max_age: Duration,
    pub batch_size: usize,
    pub concurrency: usize,
    pub lease: Duration,
}

/// What the jobs work on.
pub struct Deps {
    /// What is due, ended or expired is decided by this clock, never the wall's.
    pub clock: attn_domain::Clock,
    pub live: LiveStore,
    pub tokens: TokenStore,
    pub face_queue: FaceQueue,
    pub archive: Archive,
    pub verification: VerificationClient,
    pub settings: SweepSettings,
}

/// Another replica (or an earlier call here) is running the job.
#[derive(Debug)]
pub struct JobBusy;

pub struct Jobs {
    pub deps: Arc<Deps>,
    states: Mutex<BTreeMap<JobName, JobState>>,
    /// Jobs with a round running on this replica: one at a time here, so a
    /// lease in this replica's name with no round running is a leftover.
    running: Mutex<std::collections::BTreeSet<JobName>>,
    /// Identifies this replica in the leases.
    replica: String,
    /// Where rounds are counted (`attn_job_runs_total`, ...).
    metrics: attn_telemetry::Metrics,
}

/// Clears a job's running flag when its round ends, however it ends.
struct RunningFlag<'a> {
    jobs: &'a Jobs,
    job: JobName,
}

impl Drop for RunningFlag<'_> {
    fn drop(&mut self) {
        self.jobs.running.lock().expect("running jobs").remove(&self.job);
    }
}

impl Jobs {
    pub fn new(deps: Deps, schedules: &[(JobName, String)]) -> Arc<Self> {
        Self::measured(deps, schedules, attn_telemetry::Metrics::new())
    }

    /// As [`Jobs::new`], counting rounds in `metrics`.
    pub fn measured(deps: Deps, schedules: &[(JobName, String)], metrics: attn_telemetry::Metrics) -> Arc<Self> {
        let states = schedules
            .iter()
            .map(|(job, schedule)| (*job, JobState { schedule: schedule.clone(), ..JobState::default() }))
            .collect();
        Arc::new(Self {
            deps: Arc::new(deps),
            states: Mutex::new(states),
            running: Mutex::default(),
            replica: format!("sweeper-{}", uuid::Uuid::now_v7()),
            metrics,
        })
    }

    /// This replica's name in the job leases.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn list(&self) -> Vec<(JobName, JobState)> {
        let states = self.states.lock().expect("job states");
        JobName::ALL.into_iter().map(|job| (job, states.get(&job).cloned().unwrap_or_default())).collect()
    }

    /// Runs one round of `job` now, under the job's lease, in a span named
    /// after the job.
    pub async fn run(&self, job: JobName) -> Result<JobRun, JobBusy> {
        let span = tracing::info_span!("job", otel.name = job.as_str(), job = job.as_str(), outcome = Empty);
        self.run_round(job).instrument(span).await
    }

    /// As [`Jobs::run`], in a debug-level span: the face fast path runs ten
    /// rounds a second, nearly all idle, which would flood a collector. A
    /// job it finishes still has its span, in the check-in's trace.
    pub async fn run_quietly(&self, job: JobName) -> Result<JobRun, JobBusy> {
        let span = tracing::debug_span!("job", otel.name = job.as_str(), job = job.as_str(), outcome = Empty);
        self.run_round(job).instrument(span).await
    }

    async fn run_round(&self, job: JobName) -> Result<JobRun, JobBusy> {
        if !self.running.lock().expect("running jobs").insert(job) {
            return Err(JobBusy);
        }
        let _running = RunningFlag { jobs: self, job };
        let deps = &self.deps;
        let key = deps.live.keys().job_lease(job.as_str());
        let lease = match Lease::try_acquire(deps.live.pool(), key, self.replica.clone(), deps.settings.lease).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return Err(JobBusy),
            // Redis is down: the round can't do anything, but it is recorded as failed.
            Err(err) => {
                let mut summary = Summary::default();
                summary.fail_round(&err);
                let now = chrono::Utc::now();
                let run = JobRun { started_at: now, finished_at: Some(now), summary };
                self.record(job, &run, Duration::ZERO);
                return Ok(run);
            }
        };
        let started_at = chrono::Utc::now();
        let started = Instant::now();
        self.mark_running(job, started_at);
        let guard = lease.guard();
        let summary = match job {
            JobName::SweepAttendances => sweep_attendances(deps, &guard).await,
            JobName::SweepUsers => sweep_users(deps).await,
            JobName::CheckFaceVerificationResults => check_face_verification_results(deps).await,
        };
        if let Err(err) = lease.release().await {
            tracing::warn!(job = job.as_str(), error = %err, "could not release the lease; it will expire");
        }
        let run = JobRun { started_at, finished_at: Some(chrono::Utc::now()), summary };
        self.record(job, &run, started.elapsed());
        Ok(run)
    }

    fn mark_running(&self, job: JobName, started_at: chrono::DateTime<chrono::Utc>) {
        let mut states = self.states.lock().expect("job states");
        let state = states.entry(job).or_default();
        state.last_run = Some(JobRun { started_at, finished_at: None, summary: Summary::default() });
    }

    fn record(&self, job: JobName, run: &JobRun, took: Duration) {
        let summary = &run.summary;
        crate::measures::job_run(
            &self.metrics,
            job,
            summary.outcome(),
            took.as_secs_f64(),
            summary.count("records_written"),
        );
        let counts = summary.counts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        let outcome = format!("{:?}", summary.outcome()).to_lowercase();
        tracing::Span::current().record("outcome", outcome.as_str());
        match summary.outcome() {
            // The fast path runs ten times a second; idle rounds are not news.
            Outcome::Succeeded if summary.counts.is_empty() => {
                tracing::debug!(job = job.as_str(), took_ms = took.as_millis() as u64, "job finished; nothing to do");
            }
            Outcome::Succeeded => {
                tracing::info!(job = job.as_str(), %outcome, took_ms = took.as_millis() as u64, %counts, "job finished");
            }
            Outcome::Partial => tracing::warn!(
                job = job.as_str(),
                %outcome,
                took_ms = took.as_millis() as u64,
                %counts,
                failures = ?summary.failures,
                "job finished; failed items will be retried next round"
            ),
            Outcome::Failed => tracing::error!(
                job = job.as_str(),
                %outcome,
                took_ms = took.as_millis() as u64,
                %counts,
                error = summary.error.as_deref().unwrap_or_default(),
                "job failed; nothing was removed from Redis, the next round retries"
            ),
        }
        let mut states = self.states.lock().expect("job states");
        let state = states.entry(job).or_default();
        state.runs += 1;
        state.last_run = Some(run.clone());
    }
}
