//! Password hashing (argon2id). Each check is deliberately slow and takes
//! 19 MiB, so checks run on a few dedicated threads, one per core, never on
//! the async workers: a lecture hall signing in at once queues for the cores,
//! and the memory stays in those threads' heaps to be reused, instead of
//! landing on dozens of blocking-pool threads (2 GiB measured that way).

use std::{
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use attn_runtime::{ApiError, ApiResult};
use tokio::sync::oneshot;

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("could not hash a password: {err}"))
}

/// The hashing threads for imports and start-up (unbounded: only the
/// service itself queues here); they live as long as the process.
static HASHERS: LazyLock<Mutex<mpsc::Sender<Check>>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Check>();
    start_threads("argon2", receiver, Arc::default());
    Mutex::new(sender)
});

/// One thread per core, running what `receiver` hands them until every
/// sender is gone.
fn start_threads(name: &str, receiver: mpsc::Receiver<Check>, stats: Arc<CheckStats>) {
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..hashing_slots() {
        let receiver = receiver.clone();
        let stats = stats.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{n}"))
            .spawn(move || {
                while let Ok(work) = receiver.lock().expect("hashing queue").recv() {
                    work(&stats);
                }
            })
            .expect("can start a hashing thread");
    }
}

/// Hashes at once, process-wide: one per core.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Runs `work` on a hashing thread and waits for it without blocking the runtime.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (done, result) = oneshot::channel();
    let job: Check = Box::new(move |_| {
        let _ = done.send(work());
    });
    HASHERS.lock().expect("hasher queue").send(job).map_err(|_| anyhow::anyhow!("the hashing threads stopped"))?;
    result.await.map_err(|_| anyhow::anyhow!("a hashing thread panicked"))
}

/// Hashes a password on a hashing thread.
pub async fn hash_password_bounded(password: String) -> anyhow::Result<String> {
    on_hasher(move || hash_password(&password)).await?
}

/// Sign-ins' password checks: one thread per core behind a bounded queue.
///
/// Each check is deliberately expensive, which makes sign-in a way to burn
/// CPU. So the queue is bounded (a full one refuses at once, with a hint of
/// when to try again, instead of growing without end), and a check whose
/// caller has hung up by the time a thread picks it up is skipped.
pub struct PasswordChecks {
    sender: mpsc::SyncSender<Check>,
    stats: Arc<CheckStats>,
    capacity: usize,
}

/// Work for a hashing thread.
type Check = Box<dyn FnOnce(&CheckStats) + Send>;

/// What the checking threads have done, for operators and tests.
#[derive(Debug, Default)]
pub struct CheckStats {
    /// Checks queued.
    pub queued: AtomicU64,
    /// Passwords checked (argon2 run).
    pub checked: AtomicU64,
    /// Checks skipped because their caller had gone.
    pub skipped: AtomicU64,
    /// How long the last check took, in microseconds.
    last_micros: AtomicU64,
}

impl PasswordChecks {
    /// Starts the checking threads; at most `capacity` checks wait.
    pub fn start(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::sync_channel::<Check>(capacity.max(1));
        let stats = Arc::new(CheckStats::default());
        // They end when the service (and so the sender) is gone.
        start_threads("sign-in-argon2", receiver, stats.clone());
        Self { sender, stats, capacity: capacity.max(1) }
    }

    pub fn stats(&self) -> Arc<CheckStats> {
        self.stats.clone()
    }

    /// Checks a password against a stored hash. With no stored hash
    /// (unknown user, or a user who may not sign in) it checks against
    /// `decoy` instead, so both answers take the same time and reveal nothing.
    pub async fn verify(&self, password: String, stored: Option<String>, decoy: Arc<str>) -> ApiResult<bool> {
        let has_hash = stored.is_some();
        let (done, result) = oneshot::channel();
        let check: Check = Box::new(move |stats| {
            // The caller hung up while this waited: nobody wants the answer.
            if done.is_closed() {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let started = Instant::now();
            let hash = stored.as_deref().unwrap_or(&decoy);
            let matches = PasswordHash::new(hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false);
            stats.last_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            stats.checked.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(matches);
        });
        match self.sender.try_send(check) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::TrySendError::Full(_)) => {
                return Err(ApiError::rate_limited("too many sign-ins at once", self.time_to_drain()));
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                return Err(ApiError::Internal("the password-checking threads stopped".into()));
            }
        }
        let checked = result.await.map_err(|_| ApiError::Internal("a password-checking thread panicked".into()))?;
        Ok(has_hash && checked)
    }

    /// About how long a full queue takes to empty.
    fn time_to_drain(&self) -> Duration {
        let per_check = Duration::from_micros(self.stats.last_micros.load(Ordering::Relaxed));
        let rounds = self.capacity.div_ceil(hashing_slots()) as u32;
        per_check.saturating_mul(rounds).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let checks = PasswordChecks::start(4);
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(checks.verify("correct horse".into(), Some(hash.clone()), decoy.clone()).await.unwrap());
        assert!(!checks.verify("correct horsE".into(), Some(hash), decoy.clone()).await.unwrap());
        assert_eq!(checks.stats().checked.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies_even_with_the_decoys_password() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!PasswordChecks::start(4).verify("decoy".into(), None, decoy).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_does_not_verify() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!PasswordChecks::start(4).verify("x".into(), Some("not a hash".into()), decoy).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_with_a_hint() {
        let checks = Arc::new(PasswordChecks::start(1));
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        // Enough callers to keep every thread busy and fill the queue of one.
        let callers: Vec<_> = (0..hashing_slots() * 16)
            .map(|_| {
                let (checks, decoy) = (checks.clone(), decoy.clone());
                tokio::spawn(async move { checks.verify("x".into(), None, decoy).await })
            })
            .collect();
        let mut refused = 0;
        for caller in callers {
            if let Err(ApiError::RateLimited { retry_after, .. }) = caller.await.unwrap() {
                assert!(retry_after >= Duration::from_secs(1));
                refused += 1;
            }
        }
        assert!(refused > 0, "a queue of one with every thread busy refuses some");
    }
}
