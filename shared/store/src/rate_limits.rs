//! Sign-in rate limits, kept in Redis so that they hold across every
//! attendance-service replica: N replicas no longer allow N times the limit.
//! (Check-in attempts are limited inside the check-in script itself; see
//! [`crate::LiveStore::attend`].)

use std::time::Duration;

use fred::clients::Pool;

use crate::{Keys, StoreResult, scripts};

#[derive(Clone)]
pub struct RateLimits {
    pool: Pool,
    keys: Keys,
}

impl RateLimits {
    pub fn new(pool: Pool, keys: Keys) -> Self {
        Self { pool, keys }
    }

    /// Counts a sign-in attempt against the user name's limit and the
    /// address bucket's, both sent at once. `None`: go ahead; else how long
    /// to wait. Each limit lives in its own slot (Redis Cluster works).
    pub async fn sign_in(
        &self,
        username: &str,
        per_user: u32,
        address_bucket: &str,
        per_address: u32,
    ) -> StoreResult<Option<Duration>> {
        let limit = |key: String, per_minute: u32| {
            scripts::RATE_LIMIT.evalsha_with_reload::<u64, _, _>(
                self.pool.next(),
                vec![key],
                vec![per_minute.max(1).to_string()],
            )
        };
        let (by_user, by_address) = tokio::try_join!(
            limit(self.keys.login_limit_for_user(username), per_user),
            limit(self.keys.login_limit_for_address(address_bucket), per_address),
        )?;
        let wait = by_user.max(by_address);
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
