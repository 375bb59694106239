//! A lease in Redis, so that of several sweeper replicas exactly one runs a
//! job at a time. The holder renews it while working; if it dies, the lease
//! expires and another replica takes over. (The archive's upserts and
//! compare-and-set removals keep even an overlapping run harmless: the lease
//! saves work, it is not what keeps data correct.)
//!
//! A round asks [`LeaseGuard::check`] before each commit and stops once the
//! lease is lost (taken by another replica) or may have run out (renewals
//! failing), so two rounds overlap only for as long as a commit takes.

use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use fred::{clients::Pool, types::scripts::Script};
use tokio::task::JoinHandle;

use crate::StoreResult;

/// KEYS: lease. ARGV: owner, ttl ms. Takes the lease if it is free, or if it
/// already names this owner: a leftover of ours, written by an attempt
/// whose answer was lost (a command timed out during an outage and sent
/// again after the reconnect) or by a round whose release failed. Returns 1
/// if taken.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#,
    )
});

/// KEYS: lease. ARGV: owner, ttl ms. Extends the lease only if we still hold it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});

/// KEYS: lease. ARGV: owner. Releases the lease only if we still hold it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});

/// A held lease; renewed in the background until dropped or released.
pub struct Lease {
    pool: Pool,
    key: String,
    owner: String,
    renewer: JoinHandle<()>,
    guard: LeaseGuard,
}

/// The lease was taken by another replica or could not be renewed in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the job's lease was lost ({0}); stopping before the next commit")]
pub struct LeaseLost(&'static str);

/// Whether a lease is still ours, as the holder's round asks it.
#[derive(Clone)]
pub struct LeaseGuard {
    state: Arc<GuardState>,
}

struct GuardState {
    taken: AtomicBool,
    /// Milliseconds after `since` until which the lease surely holds.
    valid_for_ms: AtomicU64,
    since: Instant,
}

impl LeaseGuard {
    fn new(ttl: Duration, since: Instant) -> Self {
        Self {
            state: Arc::new(GuardState {
                taken: AtomicBool::new(false),
                valid_for_ms: AtomicU64::new(ttl.as_millis() as u64),
                since,
            }),
        }
    }

    /// Ok while the lease is ours; call before each commit.
    pub fn check(&self) -> Result<(), LeaseLost> {
        if self.state.taken.load(Ordering::SeqCst) {
            return Err(LeaseLost("another replica holds it"));
        }
        let elapsed = self.state.since.elapsed().as_millis() as u64;
        if elapsed >= self.state.valid_for_ms.load(Ordering::SeqCst) {
            return Err(LeaseLost("it could not be renewed before it ran out"));
        }
        Ok(())
    }

    /// A renewal sent at `sent` succeeded: the lease holds until `sent + ttl`.
    fn renewed(&self, sent: Instant, ttl: Duration) {
        let until = sent.duration_since(self.state.since) + ttl;
        self.state.valid_for_ms.fetch_max(until.as_millis() as u64, Ordering::SeqCst);
    }

    fn lost(&self) {
        self.state.taken.store(true, Ordering::SeqCst);
    }
}

impl Lease {
    /// Takes the lease if nobody else holds it. `None`: someone else does.
    /// A lease already in `owner`'s name is taken over, so the caller must
    /// make sure it runs one round of the job at a time itself (the sweeper
    /// keeps a local flag per job): otherwise a lease left behind by a
    /// timed-out attempt would lock the job for the whole TTL.
    pub async fn try_acquire(pool: &Pool, key: String, owner: String, ttl: Duration) -> StoreResult<Option<Self>> {
        let ttl_ms = ttl.as_millis().max(1) as i64;
        let sent = Instant::now();
        let taken: i64 = ACQUIRE
            .evalsha_with_reload(pool.next(), vec![key.clone()], vec![owner.clone(), ttl_ms.to_string()])
            .await?;
        if taken != 1 {
            return Ok(None);
        }
        let guard = LeaseGuard::new(ttl, sent);
        let renewer = {
            let pool = pool.clone();
            let key = key.clone();
            let owner = owner.clone();
            let guard = guard.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(ttl / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let sent = Instant::now();
                    let renewed: StoreResult<i64> = RENEW
                        .evalsha_with_reload(pool.next(), vec![key.clone()], vec![owner.clone(), ttl_ms.to_string()])
                        .await
                        .map_err(Into::into);
                    match renewed {
                        Ok(1) => guard.renewed(sent, ttl),
                        Ok(_) => {
                            tracing::warn!(%key, "lease lost to another replica");
                            guard.lost();
                            return;
                        }
                        Err(err) => tracing::warn!(%key, error = %err, "could not renew lease"),
                    }
                }
            })
        };
        Ok(Some(Self { pool: pool.clone(), key, owner, renewer, guard }))
    }

    /// What the round holding this lease checks before each commit.
    pub fn guard(&self) -> LeaseGuard {
        self.guard.clone()
    }

    pub async fn release(self) -> StoreResult<()> {
        self.renewer.abort();
        self.guard.lost();
        let _: i64 =
            RELEASE.evalsha_with_reload(self.pool.next(), vec![self.key.clone()], vec![self.owner.clone()]).await?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_holds_until_its_lease_runs_out_unless_renewed() {
        let start = Instant::now() - Duration::from_millis(50);
        let guard = LeaseGuard::new(Duration::from_millis(60), start);
        assert!(guard.check().is_ok());
        let short = LeaseGuard::new(Duration::from_millis(10), start);
        assert!(short.check().is_err(), "ran out 40 ms ago");
        short.renewed(Instant::now(), Duration::from_secs(60));
        assert!(short.check().is_ok(), "a renewal extends it");
    }

    #[test]
    fn a_lease_taken_by_another_replica_fails_the_check_for_good() {
        let guard = LeaseGuard::new(Duration::from_secs(60), Instant::now());
        guard.lost();
        guard.renewed(Instant::now(), Duration::from_secs(60));
        assert!(guard.check().unwrap_err().to_string().contains("another replica"));
    }
}
