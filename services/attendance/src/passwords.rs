//! Password hashing (argon2id). Each check is deliberately slow and takes
//! 19 MiB, so checks run on a few dedicated threads, one per core, never on
//! the async workers: a lecture hall signing in at once queues for the cores,
//! and the memory stays in those threads' heaps to be reused, instead of
//! landing on dozens of blocking-pool threads (2 GiB measured that way).

use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::oneshot;

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("could not hash a password: {err}"))
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue; the threads live as long as the process.
static HASHERS: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..hashing_slots() {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                loop {
                    let job = receiver.lock().expect("hasher queue").recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .expect("can start a hashing thread");
    }
    Mutex::new(sender)
});

/// Hashes at once, process-wide: one per core.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Runs `work` on a hashing thread and waits for it without blocking the runtime.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    HASHERS.lock().expect("hasher queue").send(job).map_err(|_| anyhow::anyhow!("the hashing threads stopped"))?;
    result.await.map_err(|_| anyhow::anyhow!("a hashing thread panicked"))
}

/// Hashes a password on a hashing thread.
pub async fn hash_password_bounded(password: String) -> anyhow::Result<String> {
    on_hasher(move || hash_password(&password)).await?
}

/// Checks a password against a stored hash. With no stored hash (unknown
/// user, or a user who may not sign in) it checks against `decoy` instead,
/// so both answers take the same time and reveal nothing.
pub async fn verify_password(password: String, stored: Option<String>, decoy: Arc<str>) -> bool {
    let has_hash = stored.is_some();
    let checked = on_hasher(move || {
        let hash = stored.as_deref().unwrap_or(&decoy);
        PasswordHash::new(hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    has_hash && checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(verify_password("correct horse".into(), Some(hash.clone()), decoy.clone()).await);
        assert!(!verify_password("correct horsE".into(), Some(hash), decoy.clone()).await);
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies_even_with_the_decoys_password() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!verify_password("decoy".into(), None, decoy).await);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_does_not_verify() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!verify_password("x".into(), Some("not a hash".into()), decoy).await);
    }
}
