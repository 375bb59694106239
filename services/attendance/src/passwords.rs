//! Password hashing (argon2id). Verifying is deliberately slow and takes
//! 19 MiB, so it runs on the blocking pool, never on the async workers, and
//! at most one per core at a time: a lecture hall signing in at once queues
//! for the cores instead of asking for gigabytes of memory.

use std::sync::{Arc, LazyLock};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("could not hash a password: {err}"))
}

/// Password checks and hashes running at once, process-wide.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(hashing_slots()));

/// One hash at a time per core.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Hashes on the blocking pool, waiting for a free slot first.
pub async fn hash_password_bounded(password: String) -> anyhow::Result<String> {
    let _slot = HASHING.acquire().await.expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(move || hash_password(&password)).await?
}

/// Checks a password against a stored hash. With no stored hash (unknown
/// user, or a user who may not sign in) it checks against `decoy` instead,
/// so both answers take the same time and reveal nothing.
pub async fn verify_password(password: String, stored: Option<String>, decoy: Arc<str>) -> bool {
    let has_hash = stored.is_some();
    let _slot = HASHING.acquire().await.expect("the hashing semaphore is never closed");
    let checked = tokio::task::spawn_blocking(move || {
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
