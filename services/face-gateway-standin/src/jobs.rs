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

/// One `POST /submit-job` as it arrived and how it was answered: tests
/// count attempts and check the idempotency key each carried.
#[derive(Debug, Clone)]
pub struct SubmitAttempt {
    pub student: String,
    pub idempotency_key: Option<String>,
    /// The W3C `traceparent` header it carried, so tests can check the
    /// caller's trace reached the gateway.
    pub traceparent: Option<String>,
    pub status: u16,
    /// The job it created or was answered with; none when refused.
    pub job_id: Option<String>,
}

#[derive(Debug, Default)]
struct Book {
    jobs: HashMap<String, Job>,
    /// Idempotency key → the job it created.
    keys: HashMap<String, String>,
    submits: Vec<SubmitAttempt>,
}

#[derive(Debug, Default)]
pub struct JobBook {
    book: Mutex<Book>,
}

impl JobBook {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().expect("job book lock")
    }

    /// Takes a job, unless `key` already made one: `(job id, whether it is new)`.
    pub fn take(&self, job: Job, key: Option<&str>) -> (String, bool) {
        let mut book = self.book();
        if let Some(id) = key.and_then(|key| book.keys.get(key)) {
            return (id.clone(), false);
        }
        if book.jobs.len() >= MAX_JOBS {
            book.jobs.retain(|_, job| job.submitted.elapsed() < FORGET_AFTER);
            let Book { jobs, keys, .. } = &mut *book;
            keys.retain(|_, id| jobs.contains_key(id));
        }
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(key) = key {
            book.keys.insert(key.to_owned(), id.clone());
        }
        book.jobs.insert(id.clone(), job);
        (id, true)
    }

    /// The job `key` made, if any.
    pub fn job_for_key(&self, key: &str) -> Option<String> {
        self.book().keys.get(key).cloned()
    }

    pub fn record_submit(&self, attempt: SubmitAttempt) {
        let mut book = self.book();
        if book.submits.len() >= MAX_JOBS {
            book.submits.drain(..MAX_JOBS / 2);
        }
        book.submits.push(attempt);
    }

    /// How many submissions this student made before.
    pub fn submits_by(&self, student: &str) -> usize {
        self.book().submits.iter().filter(|attempt| attempt.student == student).count()
    }

    /// Every job: (id, student, when it becomes or became final in unix ms).
    pub fn journal(&self) -> Vec<(String, String, u64)> {
        let book = self.book();
        book.jobs.iter().map(|(id, job)| (id.clone(), job.student.clone(), job.finishes_at_ms)).collect()
    }

    /// Every submission, oldest first.
    pub fn submits(&self) -> Vec<SubmitAttempt> {
        self.book().submits.clone()
    }

    /// Looks a job up, counting the visit; `None` for an unknown id.
    pub fn visit<T>(&self, id: &str, look: impl FnOnce(&Job) -> T) -> Option<T> {
        let mut book = self.book();
        let job = book.jobs.get_mut(id)?;
        job.results_served += 1;
        Some(look(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, SubmitFault};

    fn plan() -> Plan {
        Plan { outcome: Outcome::Match, slow: false, submit: SubmitFault::None }
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
        let (id, _) = book.take(Job::new(plan(), Duration::ZERO, "s1"), None);
        assert_eq!(book.visit(&id, |job| job.results_served), Some(1));
        assert_eq!(book.visit(&id, |job| job.results_served), Some(2));
        assert_eq!(book.visit("nope", |job| job.results_served), None);
    }

    #[test]
    fn the_same_idempotency_key_gets_the_same_job_and_no_second_one() {
        let book = JobBook::default();
        let (first, new) = book.take(Job::new(plan(), Duration::ZERO, "s1"), Some("k1"));
        assert!(new);
        let (again, new) = book.take(Job::new(plan(), Duration::ZERO, "s1"), Some("k1"));
        assert_eq!((again.as_str(), new), (first.as_str(), false));
        let (other, _) = book.take(Job::new(plan(), Duration::ZERO, "s1"), None);
        assert_ne!(other, first);
        assert_eq!(book.journal().len(), 2);
        assert_eq!(book.job_for_key("k1"), Some(first));
    }
}
