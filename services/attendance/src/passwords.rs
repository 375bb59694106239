//! Password hashing (argon2id with OWASP's parameters: 19 MiB, 2 passes).
//!
//! Each hash or check is deliberately slow and takes 19 MiB of working
//! memory, so they all run on a few dedicated threads (`Passwords`), never
//! on the async workers. Each thread reuses its working memory while
//! passwords are queued and frees it when the queue is empty: a room
//! signing in costs threads × 19 MiB however many sign in, and the rest of
//! the day (check-ins, no sign-ins) costs nothing. (Before, every check
//! allocated its own, and glibc kept them in per-thread arenas: 2 GiB.)

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use attn_runtime::{ApiError, ApiResult, Reason};
use tokio::sync::oneshot;

/// Stored hashes asking for more working memory than this (KiB) are not
/// checked: a bad row must not make a thread allocate gigabytes.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

/// One thread's argon2 working memory, grown to the largest hash it has
/// run and then reused.
#[derive(Default)]
pub struct WorkingMemory {
    blocks: Vec<Block>,
}

impl WorkingMemory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        &mut self.blocks[..needed]
    }

    /// An argon2id PHC string for `password`, with a random salt.
    pub fn hash(&mut self, password: &str) -> anyhow::Result<String> {
        let params = Params::default();
        let salt = Salt::generate();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, self.blocks(&params))
            .map_err(|err| anyhow::anyhow!("could not hash a password: {err}"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)
                .map_err(|err| anyhow::anyhow!("could not encode the hash's parameters: {err}"))?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(|err| anyhow::anyhow!("could not encode a hash: {err}"))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `stored`, compared in
    /// constant time. A malformed or unsupported hash never matches.
    pub fn verify(&mut self, password: &str, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
        let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
        let Ok(params) = Params::try_from(&parsed) else { return false };
        if params.m_cost() > MAX_MEMORY_KIB {
            return false;
        }
        let mut out = vec![0u8; expected.len()];
        let hashed = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            self.blocks(&params),
        );
        // Output's equality is constant-time.
        hashed.is_ok() && Output::new(&out).is_ok_and(|computed| computed == *expected)
    }
}

/// Password threads when `ATTN_PASSWORD_THREADS` is not set: half the
/// cores, at least one, so a room signing in leaves the other half to
/// check-ins (and memory to threads × 19 MiB).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (usize::from(cores) / 2).max(1))
}

/// Work for a password thread.
type Job = Box<dyn FnOnce(&mut WorkingMemory) + Send>;

/// The password threads of one service (or one import), with sign-in
/// checks admitted through a bounded queue.
///
/// Each check is deliberately expensive, which makes sign-in a way to burn
/// CPU. So sign-ins that may wait are bounded (more are refused at once,
/// with a hint of when to try again, instead of queueing without end), and
/// a check whose caller has hung up by the time a thread picks it up is
/// skipped. Hashes for imports and start-up are not bounded: only the
/// service itself asks for them. The threads end when this is dropped.
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken by a thread.
    pending: Arc<AtomicUsize>,
    threads: usize,
    /// Sign-in checks waiting for a thread.
    waiting: Arc<AtomicUsize>,
    queue: usize,
    stats: Arc<CheckStats>,
}

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

/// Counts a sign-in check as waiting until a thread takes it (or it is dropped).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// Starts `threads` password threads (at least one); at most `queue`
    /// sign-in checks wait for them.
    pub fn start(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let pending = Arc::new(AtomicUsize::new(0));
        for n in 0..threads {
            let (receiver, pending) = (receiver.clone(), pending.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut memory = WorkingMemory::default();
                    // Holding the lock only while waiting: one thread takes each job.
                    loop {
                        let job = receiver.lock().expect("password queue").recv();
                        let Ok(job) = job else { break };
                        pending.fetch_sub(1, Ordering::AcqRel);
                        job(&mut memory);
                        // Nothing else queued: give the 19 MiB back until the next room signs in.
                        if pending.load(Ordering::Acquire) == 0 {
                            memory = WorkingMemory::default();
                        }
                    }
                })
                .expect("can start a password thread");
        }
        Self { jobs: sender, pending, threads, waiting: Arc::default(), queue: queue.max(1), stats: Arc::default() }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn stats(&self) -> Arc<CheckStats> {
        self.stats.clone()
    }

    fn submit(&self, job: Job) -> ApiResult<()> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.jobs.send(job).map_err(|_| ApiError::internal("the password threads stopped"))
    }

    /// Hashes a password on a password thread (imports, start-up).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let (done, result) = oneshot::channel();
        self.submit(Box::new(move |memory| {
            let _ = done.send(memory.hash(&password));
        }))
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        result.await.map_err(|_| anyhow::anyhow!("a password thread panicked"))?
    }

    /// Checks a sign-in's password against a stored hash. With no stored
    /// hash (unknown user, or a user who may not sign in) it checks against
    /// `decoy` instead, so both answers take the same time and reveal nothing.
    pub async fn verify(&self, password: String, stored: Option<String>, decoy: Arc<str>) -> ApiResult<bool> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::rate_limited(Reason::Overloaded, "too many sign-ins at once", self.time_to_drain()));
        }
        let waiting = Waiting(self.waiting.clone());
        let has_hash = stored.is_some();
        let stats = self.stats.clone();
        let (done, result) = oneshot::channel();
        self.submit(Box::new(move |memory| {
            drop(waiting);
            // The caller hung up while this waited: nobody wants the answer.
            if done.is_closed() {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let started = Instant::now();
            let matches = memory.verify(&password, stored.as_deref().unwrap_or(&decoy));
            stats.last_micros.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            stats.checked.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(matches);
        }))?;
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let checked = result.await.map_err(|_| ApiError::internal("a password-checking thread panicked"))?;
        Ok(has_hash && checked)
    }

    /// About how long a full queue takes to empty.
    fn time_to_drain(&self) -> Duration {
        let per_check = Duration::from_micros(self.stats.last_micros.load(Ordering::Relaxed));
        let rounds = self.queue.div_ceil(self.threads) as u32;
        per_check.saturating_mul(rounds).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn hash_password(password: &str) -> anyhow::Result<String> {
        WorkingMemory::default().hash(password)
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let passwords = Passwords::start(1, 4);
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(passwords.verify("correct horse".into(), Some(hash.clone()), decoy.clone()).await.unwrap());
        assert!(!passwords.verify("correct horsE".into(), Some(hash), decoy.clone()).await.unwrap());
        assert_eq!(passwords.stats().checked.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher_both_ways() {
        let mut memory = WorkingMemory::default();
        let ours = memory.hash("correct horse").unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        // A hash the crate made (as earlier releases stored them) still verifies.
        let theirs = Argon2::default().hash_password(b"correct horse").unwrap().to_string();
        assert!(memory.verify("correct horse", &theirs));
        assert!(!memory.verify("correct horse ", &theirs));
        // Other parameters in a stored hash are honoured, the memory grows to fit.
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8, 1, 1, None).unwrap())
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        assert!(memory.verify("pw", &small));
        assert!(memory.verify("correct horse", &ours), "the smaller hash left the memory usable");
    }

    #[test]
    fn a_hash_asking_for_too_much_memory_is_not_run() {
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!WorkingMemory::default().verify("x", greedy));
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies_even_with_the_decoys_password() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!Passwords::start(1, 4).verify("decoy".into(), None, decoy).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_does_not_verify() {
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        assert!(!Passwords::start(1, 4).verify("x".into(), Some("not a hash".into()), decoy).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_with_a_hint() {
        let passwords = Arc::new(Passwords::start(1, 1));
        let decoy: Arc<str> = hash_password("decoy").unwrap().into();
        // Enough callers to keep the thread busy and fill the queue of one.
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (passwords, decoy) = (passwords.clone(), decoy.clone());
                tokio::spawn(async move { passwords.verify("x".into(), None, decoy).await })
            })
            .collect();
        let mut refused = 0;
        for caller in callers {
            if let Err(err) = caller.await.unwrap() {
                assert_eq!(err.reason(), Reason::Overloaded, "{err}");
                let retry_after = err.retry_after().expect("RetryInfo");
                assert!(retry_after >= Duration::from_secs(1));
                refused += 1;
            }
        }
        assert!(refused > 0, "a queue of one with the thread busy refuses some");
        assert_eq!(passwords.waiting.load(Ordering::Acquire), 0, "every admitted check left the queue");
    }
}
