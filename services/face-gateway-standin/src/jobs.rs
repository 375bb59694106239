//! The stand-in's jobs, in memory. A job's stage is a function of the
//! time since it was submitted, so no task runs per job and the moment it
//! became final is exact.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::Plan;

/// Past this many jobs, old ones are forgotten: a long-running demo must not grow without bound.
const MAX_JOBS: usize = 100_000;
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
pub struct Job {
    pub plan: Plan,
    /// Whose selfie it is (a student number, never an image).
    pub student: String,
    submitted: Instant,
    takes: Duration,
    /// When the job becomes final, in unix milliseconds.
    finishes_at_ms: u64,
    /// How many times `GET /results` asked about it.
    pub results_served: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pending,
    InProgress,
    Final { finished_at_ms: u64 },
}

impl Job {
    pub fn new(plan: Plan, takes: Duration, student: &str) -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        Self {
            plan,
            student: student.to_owned(),
            submitted: Instant::now(),
            takes,
            finishes_at_ms: now_ms + takes.as_millis() as u64,
            results_served: 0,
        }
    }

    /// PENDING for the first half of the delay, IN_PROGRESS for the second.
    pub fn stage(&self, now: Instant) -> Stage {
        let elapsed = now.saturating_duration_since(self.submitted);
        if elapsed >= self.takes {
            Stage::Final { finished_at_ms: self.finishes_at_ms }
        } else if elapsed < self.takes / 2 {
            Stage::Pending
        } else {
            Stage::InProgress
        }
    }
}

#[derive(Debug, Default)]
pub struct JobBook {
    jobs: Mutex<HashMap<String, Job>>,
}

impl JobBook {
    pub fn add(&self, job: Job) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let mut jobs = self.jobs.lock().expect("job book lock");
        if jobs.len() >= MAX_JOBS {
            jobs.retain(|_, job| job.submitted.elapsed() < FORGET_AFTER);
        }
        jobs.insert(id.clone(), job);
        id
    }

    /// Every job: (id, student, when it becomes or became final in unix ms).
    pub fn journal(&self) -> Vec<(String, String, u64)> {
        let jobs = self.jobs.lock().expect("job book lock");
        jobs.iter().map(|(id, job)| (id.clone(), job.student.clone(), job.finishes_at_ms)).collect()
    }

    /// Looks a job up, counting the visit; `None` for an unknown id.
    pub fn visit<T>(&self, id: &str, look: impl FnOnce(&Job) -> T) -> Option<T> {
        let mut jobs = self.jobs.lock().expect("job book lock");
        let job = jobs.get_mut(id)?;
        job.results_served += 1;
        Some(look(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn plan() -> Plan {
        Plan { outcome: Outcome::Match, slow: false }
    }

    #[test]
    fn a_job_is_pending_then_in_progress_then_final() {
        let job = Job::new(plan(), Duration::from_millis(100), "s1");
        let start = job.submitted;
        assert_eq!(job.stage(start), Stage::Pending);
        assert_eq!(job.stage(start + Duration::from_millis(60)), Stage::InProgress);
        assert!(matches!(job.stage(start + Duration::from_millis(100)), Stage::Final { .. }));
    }

    #[test]
    fn a_job_with_no_delay_is_final_at_once() {
        let job = Job::new(plan(), Duration::ZERO, "s1");
        assert!(matches!(job.stage(Instant::now()), Stage::Final { .. }));
    }

    #[test]
    fn visits_are_counted_and_unknown_jobs_are_none() {
        let book = JobBook::default();
        let id = book.add(Job::new(plan(), Duration::ZERO, "s1"));
        assert_eq!(book.visit(&id, |job| job.results_served), Some(1));
        assert_eq!(book.visit(&id, |job| job.results_served), Some(2));
        assert_eq!(book.visit("nope", |job| job.results_served), None);
    }
}
