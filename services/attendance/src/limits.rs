//! Rate limits on sign-in and check-in, held across every replica.
//!
//! - Sign-in: per user name, and ten times that per client address bucket
//!   (an IPv4 address, an IPv6 /64, or one bucket for every caller whose
//!   address is unknown), counted in Redis before any password is checked.
//! - Check-in: per student and session, counted by the check-in script
//!   itself in Redis (no extra round trip); and, before any verification
//!   work, per student on this replica in memory, so a flood from one
//!   student never reaches verification-service or the face gateway. With N
//!   replicas that first line lets through at most N times the limit, and
//!   the script still holds the total.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use attn_domain::client_address::address_bucket;
use attn_runtime::{ApiError, Reason};
use attn_store::rate_limits::RateLimits as LimitStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

/// A lab or a NAT puts many students behind one address.
const ADDRESS_FACTOR: u32 = 10;

pub struct RateLimits {
    store: LimitStore,
    login_per_minute: u32,
    attend_per_minute: u32,
    attend_here: DefaultKeyedRateLimiter<String>,
    /// Where refusals are counted (`attn_rate_limited_total`).
    metrics: attn_telemetry::Metrics,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"))
}

fn too_many_sign_ins(retry_after: Duration) -> ApiError {
    ApiError::rate_limited(Reason::RateLimited, "too many sign-in attempts", retry_after)
}

pub fn too_many_check_ins(retry_after: Duration) -> ApiError {
    ApiError::rate_limited(Reason::RateLimited, "too many check-in attempts", retry_after)
}

impl RateLimits {
    pub fn new(store: LimitStore, login_per_minute: u32, attend_per_minute: u32) -> Arc<Self> {
        Arc::new(Self {
            store,
            login_per_minute: login_per_minute.max(1),
            attend_per_minute: attend_per_minute.max(1),
            attend_here: RateLimiter::keyed(per_minute(attend_per_minute)),
            metrics: attn_telemetry::Metrics::new(),
        })
    }

    /// Counts refusals in `metrics` rather than in a registry of its own.
    pub fn measured(self: Arc<Self>, metrics: attn_telemetry::Metrics) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(limits) => Arc::new(Self { metrics, ..limits }),
            Err(shared) => shared,
        }
    }

    /// A check-in refused by the limit held in the check-in script.
    pub fn count_check_in_refused(&self) {
        crate::measures::rate_limited(&self.metrics, "check_in");
    }

    /// Counts a sign-in attempt; refused when the user name or the address
    /// bucket is over its limit.
    pub async fn check_login(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let per_address = self.login_per_minute.saturating_mul(ADDRESS_FACTOR);
        let bucket = address_bucket(address);
        match self.store.sign_in(username, self.login_per_minute, &bucket, per_address).await? {
            Some(wait) => {
                crate::measures::rate_limited(&self.metrics, "sign_in");
                Err(too_many_sign_ins(wait))
            }
            None => Ok(()),
        }
    }

    /// This replica's first line on check-ins, before any verification.
    pub fn check_attend_here(&self, student: &str) -> Result<(), ApiError> {
        self.attend_here.check_key(&student.to_owned()).map_err(|not_until| {
            self.count_check_in_refused();
            too_many_check_ins(not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
        })
    }

    /// The limit the check-in script holds across replicas.
    pub fn attend_per_minute(&self) -> u32 {
        self.attend_per_minute
    }

    /// Forgets idle keys every minute so memory stays bounded.
    pub fn spawn_cleanup(self: &Arc<Self>, shutdown: attn_runtime::Shutdown) {
        let limits = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.triggered() => break,
                }
                let Some(limits) = limits.upgrade() else { break };
                limits.attend_here.retain_recent();
            }
        });
    }
}
