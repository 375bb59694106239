//! Rate limits on sign-in and check-in, per replica.
//!
//! In-process token buckets (governor): cheap enough for the hot path and
//! no extra Redis round trip. With N replicas behind a balancer a client
//! gets at most N times the quota, which still stops guessing and floods.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use attn_runtime::ApiError;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct RateLimits {
    login_by_user: DefaultKeyedRateLimiter<String>,
    login_by_address: DefaultKeyedRateLimiter<IpAddr>,
    attend_by_student: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"))
}

impl RateLimits {
    pub fn new(login_per_minute: u32, attend_per_minute: u32) -> Arc<Self> {
        Arc::new(Self {
            login_by_user: RateLimiter::keyed(per_minute(login_per_minute)),
            // A lab or a NAT puts many students behind one address.
            login_by_address: RateLimiter::keyed(per_minute(login_per_minute.saturating_mul(10))),
            attend_by_student: RateLimiter::keyed(per_minute(attend_per_minute)),
        })
    }

    pub fn check_login(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let by_address = address.is_none_or(|a| self.login_by_address.check_key(&a).is_ok());
        if !by_address || self.login_by_user.check_key(&username.to_owned()).is_err() {
            return Err(ApiError::RateLimited("too many sign-in attempts; wait a minute and try again".into()));
        }
        Ok(())
    }

    pub fn check_attend(&self, student: &str) -> Result<(), ApiError> {
        self.attend_by_student
            .check_key(&student.to_owned())
            .map_err(|_| ApiError::RateLimited("too many check-in attempts; wait a minute and try again".into()))
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
                limits.login_by_user.retain_recent();
                limits.login_by_address.retain_recent();
                limits.attend_by_student.retain_recent();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_is_limited_per_user_name() {
        let limits = RateLimits::new(3, 100);
        for _ in 0..3 {
            limits.check_login("alice", None).unwrap();
        }
        assert!(matches!(limits.check_login("alice", None), Err(ApiError::RateLimited(_))));
        limits.check_login("bob", None).unwrap();
    }

    #[test]
    fn check_in_is_limited_per_student() {
        let limits = RateLimits::new(3, 2);
        limits.check_attend("s1").unwrap();
        limits.check_attend("s1").unwrap();
        assert!(limits.check_attend("s1").is_err());
        limits.check_attend("s2").unwrap();
    }
}
