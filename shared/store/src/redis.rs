//! Connecting to Redis with bounds on every wait, so a Redis outage becomes
//! a quick `UNAVAILABLE` instead of a hung call.

use std::time::Duration;

use fred::{
    clients::{Pool, SubscriberClient},
    interfaces::ClientLike,
    prelude::{Builder, Config, ReconnectPolicy},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: SecretString,
    pub pool_size: usize,
    /// Longest any one command may take, including waiting for a reconnect.
    pub command_timeout: Duration,
}

fn builder(settings: &RedisSettings) -> StoreResult<Builder> {
    let config = Config::from_url(settings.url.expose_secret()).map_err(|err| StoreError::Internal {
        store: "Redis",
        detail: format!("ATTN_REDIS_URL is not a Redis URL: {}", err.details()),
    })?;
    let timeout = settings.command_timeout;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|conn| {
            conn.connection_timeout = timeout;
            conn.internal_command_timeout = timeout;
            conn.max_command_attempts = 2;
        })
        .with_performance_config(|perf| {
            perf.default_command_timeout = timeout;
        })
        // Keep reconnecting for ever, backing off to 500 ms between attempts.
        // An attempt is cheap (a refused connection, or CLUSTER SLOTS and a
        // connection per master), and on a Redis Cluster it is what ends a
        // failover for this client: until a replica has taken over, the
        // cluster still names the lost master and the attempt fails; the next
        // one after the promotion succeeds. A longer back-off would keep every
        // command waiting (then UNAVAILABLE) for up to that long after the
        // cluster had recovered.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 500, 2));
    Ok(builder)
}

/// A connected pool; fails if Redis does not answer within the command timeout.
pub async fn connect_pool(settings: &RedisSettings) -> StoreResult<Pool> {
    let pool = builder(settings)?.build_pool(settings.pool_size.max(1)).map_err(StoreError::from)?;
    init(&pool, settings.command_timeout).await?;
    Ok(pool)
}

/// A client for pub/sub; it re-subscribes by itself after a reconnect.
/// `queue`: messages it holds for a lagging reader (each of fred's event
/// queues is allocated at this size up front, so keep it to what is needed).
pub async fn connect_subscriber(settings: &RedisSettings, queue: usize) -> StoreResult<SubscriberClient> {
    let mut builder = builder(settings)?;
    builder.with_performance_config(|perf| perf.broadcast_channel_capacity = queue);
    let client = builder.build_subscriber_client().map_err(StoreError::from)?;
    init(&client, settings.command_timeout).await?;
    Ok(client)
}

async fn init(client: &impl ClientLike, timeout: Duration) -> StoreResult<()> {
    match tokio::time::timeout(timeout, client.init()).await {
        Ok(Ok(_connection_task)) => Ok(()),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => {
            let _ = client.quit().await;
            Err(StoreError::Unavailable { store: "Redis", detail: format!("no answer within {timeout:?}") })
        }
    }
}
