//! A lease in Redis, so that of several sweeper replicas exactly one runs a
//! job at a time. The holder renews it while working; if it dies, the lease
//! expires and another replica takes over. (The archive's upserts and
//! compare-and-set removals keep even an overlapping run harmless: the lease
//! saves work, it is not what keeps data correct.)

use std::{sync::LazyLock, time::Duration};

use fred::{
    clients::Pool,
    interfaces::KeysInterface,
    types::{Expiration, SetOptions, scripts::Script},
};
use tokio::task::JoinHandle;

use crate::StoreResult;

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
}

impl Lease {
    /// Takes the lease if nobody holds it. `None`: someone else does.
    pub async fn try_acquire(pool: &Pool, key: String, owner: String, ttl: Duration) -> StoreResult<Option<Self>> {
        let ttl_ms = ttl.as_millis().max(1) as i64;
        let taken: Option<String> =
            pool.set(&key, owner.as_str(), Some(Expiration::PX(ttl_ms)), Some(SetOptions::NX), false).await?;
        if taken.is_none() {
            return Ok(None);
        }
        let renewer = {
            let pool = pool.clone();
            let key = key.clone();
            let owner = owner.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(ttl / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let renewed: StoreResult<i64> = RENEW
                        .evalsha_with_reload(pool.next(), vec![key.clone()], vec![owner.clone(), ttl_ms.to_string()])
                        .await
                        .map_err(Into::into);
                    match renewed {
                        Ok(1) => {}
                        Ok(_) => {
                            tracing::warn!(%key, "lease lost to another replica");
                            return;
                        }
                        Err(err) => tracing::warn!(%key, error = %err, "could not renew lease"),
                    }
                }
            })
        };
        Ok(Some(Self { pool: pool.clone(), key, owner, renewer }))
    }

    pub async fn release(self) -> StoreResult<()> {
        self.renewer.abort();
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
