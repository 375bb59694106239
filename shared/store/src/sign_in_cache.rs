//! Sign-ins a replica has seen lately, so most calls skip the token read.
//!
//! Every RPC's auth check needs the caller's sign-in; read from Redis, that
//! is one of the two Redis round trips of a check-in. A replica keeps the
//! sign-ins it has read for at most `ATTN_TOKEN_CACHE_MS`, and a logout
//! still stops a token everywhere at once:
//!
//! - Logout deletes the token and publishes its hash on the
//!   `tokens_revoked` channel; every replica follows that channel and
//!   forgets the entry ([`SignInCache::follow`]).
//! - A read that raced a revocation does not put back what was just
//!   revoked: an insert carries the revocation count seen before its Redis
//!   read and is dropped if the count has moved since.
//! - While the subscription is down nothing is served from the cache, and a
//!   reconnect forgets everything (revocations may have been missed). A
//!   revocation lost in the instant between a reconnect and the
//!   re-subscription is the one case left, and the entry's lifetime bounds it.
//! - An entry never outlives its token's own expiry.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::broadcast::error::RecvError;

use crate::{
    revocations::{RevocationFeed, Revoked},
    tokens::SignIn,
};

/// Sign-ins cached per replica, at most; past this the least used go first.
const CAPACITY: usize = 100_000;

#[derive(Clone)]
struct Cached {
    sign_in: SignIn,
    /// Unix ms after which the entry must not be used.
    usable_until_ms: i64,
}

/// Until when a sign-in read at `now_ms` may be served from the cache.
pub fn usable_until(sign_in: &SignIn, now_ms: i64, lifetime_ms: i64) -> i64 {
    sign_in.expires_ms.min(now_ms.saturating_add(lifetime_ms))
}

/// Where a lookup stands with the cache: the revocation count it saw, to
/// hand back with what it read.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Clone)]
pub struct SignInCache {
    entries: Arc<quick_cache::sync::Cache<String, Cached>>,
    /// Revocations and reconnects seen so far.
    revocations: Arc<AtomicU64>,
    lifetime_ms: i64,
    /// The revocation feed; entries are served only while it is connected.
    feed: Arc<tokio::sync::OnceCell<Arc<RevocationFeed>>>,
    /// Lookups answered from the cache, and those that went to Redis (for metrics).
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl SignInCache {
    /// A cache whose entries live at most `lifetime_ms`. It serves nothing
    /// until [`SignInCache::follow`] has subscribed.
    pub fn new(lifetime_ms: u64) -> Self {
        Self {
            entries: Arc::new(quick_cache::sync::Cache::new(CAPACITY)),
            revocations: Arc::default(),
            lifetime_ms: i64::try_from(lifetime_ms).unwrap_or(i64::MAX),
            feed: Arc::default(),
            hits: Arc::default(),
            misses: Arc::default(),
        }
    }

    /// Lookups so far: `(answered from the cache, read from Redis)`.
    pub fn lookups(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Counts one lookup, for [`SignInCache::lookups`].
    pub(crate) fn count_lookup(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Follows `feed` for the life of the process: a revoked token is
    /// forgotten, and anything that may have been missed empties the cache.
    pub fn follow(&self, feed: Arc<RevocationFeed>) {
        let mut revocations = feed.subscribe();
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                match revocations.recv().await {
                    Ok(Revoked::Token(token_hash)) => cache.forget(&token_hash),
                    Ok(Revoked::Unknown) | Err(RecvError::Lagged(_)) => cache.forget_all(),
                    Err(RecvError::Closed) => break,
                }
            }
            // Without the feed, the cache must not answer again.
            cache.forget_all();
        });
        let _ = self.feed.set(feed);
    }

    fn following(&self) -> bool {
        self.feed.get().is_some_and(|feed| feed.is_connected())
    }

    /// The cached sign-in for a token hash, if it may be used at `now_ms`.
    pub fn get(&self, token_hash: &str, now_ms: i64) -> Option<SignIn> {
        if !self.following() {
            return None;
        }
        let cached = self.entries.get(token_hash)?;
        if now_ms >= cached.usable_until_ms {
            self.entries.remove(token_hash);
            return None;
        }
        Some(cached.sign_in)
    }

    /// Take before reading a sign-in from Redis; give to [`SignInCache::insert`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.revocations.load(Ordering::SeqCst))
    }

    /// Keeps a sign-in read from Redis at `now_ms`, unless a revocation
    /// arrived since `ticket` was taken.
    pub fn insert(&self, ticket: Ticket, token_hash: &str, sign_in: &SignIn, now_ms: i64) {
        let usable_until_ms = usable_until(sign_in, now_ms, self.lifetime_ms);
        if now_ms >= usable_until_ms {
            return;
        }
        self.entries.insert(token_hash.to_owned(), Cached { sign_in: sign_in.clone(), usable_until_ms });
        // Checked after the insert: a revocation that slipped in between is
        // either seen here or removed the entry itself.
        if self.revocations.load(Ordering::SeqCst) != ticket.0 {
            self.entries.remove(token_hash);
        }
    }

    pub fn forget(&self, token_hash: &str) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(token_hash);
    }

    fn forget_all(&self) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use attn_domain::Role;
    use uuid::Uuid;

    use super::*;

    fn sign_in(expires_ms: i64) -> SignIn {
        SignIn {
            login_id: Uuid::nil(),
            school_number: "s1".into(),
            full_name: "Ada".into(),
            role: Role::Student,
            photo_url: None,
            started_ms: 0,
            expires_ms,
        }
    }

    #[test]
    fn an_entry_ends_at_the_token_expiry_or_the_cache_lifetime_whichever_is_first() {
        assert_eq!(usable_until(&sign_in(10_000), 1_000, 60_000), 10_000);
        assert_eq!(usable_until(&sign_in(600_000), 1_000, 60_000), 61_000);
        assert_eq!(usable_until(&sign_in(i64::MAX), i64::MAX - 5, 60_000), i64::MAX);
    }

    #[test]
    fn nothing_is_served_before_the_revocation_feed_is_followed() {
        let cache = SignInCache::new(60_000);
        cache.insert(cache.ticket(), "h", &sign_in(100_000), 0);
        assert_eq!(cache.get("h", 1), None, "no feed yet, so no answers");
        assert!(cache.entries.get("h").is_some(), "but the entry was kept");
    }

    #[test]
    fn an_insert_that_raced_a_revocation_is_dropped() {
        let cache = SignInCache::new(60_000);
        let ticket = cache.ticket();
        cache.forget("other");
        cache.insert(ticket, "h", &sign_in(100_000), 0);
        assert!(cache.entries.get("h").is_none());
        cache.insert(cache.ticket(), "h", &sign_in(100_000), 0);
        assert!(cache.entries.get("h").is_some());
    }

    #[test]
    fn an_expired_sign_in_is_never_kept() {
        let cache = SignInCache::new(60_000);
        cache.insert(cache.ticket(), "h", &sign_in(500), 500);
        assert!(cache.entries.get("h").is_none());
    }

    #[test]
    fn forgetting_removes_one_and_forgetting_all_removes_every_entry() {
        let cache = SignInCache::new(60_000);
        for hash in ["a", "b", "c"] {
            cache.insert(cache.ticket(), hash, &sign_in(100_000), 0);
        }
        cache.forget("a");
        assert!(cache.entries.get("a").is_none() && cache.entries.get("b").is_some());
        cache.forget_all();
        assert!(cache.entries.get("b").is_none() && cache.entries.get("c").is_none());
    }
}
