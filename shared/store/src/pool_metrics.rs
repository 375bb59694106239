//! The PostgreSQL and Redis pools, read at scrape time from what the client
//! libraries expose: sqlx's pool size and idle connections, and fred's pool
//! clients, whether each is connected, the commands waiting to be written
//! and the ones sent again after a connection closed. The waits for a
//! PostgreSQL connection are timed as they happen (sqlx does not count
//! them). The errors each client library returned, by kind. And whether
//! each dependency answers at all (`attn_dependency_up`), asked with one
//! bounded round trip per scrape.

use std::{future::Future, time::Duration};

use crate::{Archive, LiveStore};
use attn_telemetry::Metrics;
use fred::interfaces::{ClientLike as _, MetricsInterface as _};

/// Longest a scrape waits for each dependency's answer. Well inside
/// Prometheus's default scrape timeout (10 s), and both are asked at once.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub const DEPENDENCY_UP: &str = "attn_dependency_up";

pub fn register(metrics: &Metrics, archive: Archive, live: LiveStore, max_connections: u32) {
    metrics.describe_gauge("attn_db_pool_connections", "PostgreSQL connections in the pool, by state (idle, in_use)");
    metrics.describe_gauge("attn_db_pool_max_connections", "Most PostgreSQL connections the pool opens");
    metrics.describe_gauge("attn_redis_pool_clients", "Redis pool clients, by state (connected, disconnected)");
    metrics.describe_gauge(
        DEPENDENCY_UP,
        "1 if the dependency answered a round trip (Redis PING, PostgreSQL SELECT 1) within 1 s at the last scrape, else 0",
    );
    metrics.describe_histogram(
        "attn_db_pool_acquire_seconds",
        "How long a unit of work waited for a PostgreSQL connection from the pool (timed-out waits included)",
    );
    metrics.describe_gauge(
        "attn_redis_pool_queued_commands",
        "Redis commands buffered in the pool's clients, not yet written to a connection",
    );
    metrics.describe_counter(
        "attn_redis_redeliveries_total",
        "Redis commands sent again because their connection closed before the answer came",
    );
    metrics.describe_counter(
        "attn_dependency_errors_total",
        "Errors the Redis and PostgreSQL client libraries returned in this process, by kind \
         (unavailable: unreachable or timed out; corrupt: an answer of the wrong shape; internal: anything else)",
    );
    if metrics.is_enabled() {
        archive.record_acquire_waits(metrics.histogram("attn_db_pool_acquire_seconds", &[]));
    }
    let queued = metrics.gauge("attn_redis_pool_queued_commands", &[]);
    let redeliveries = metrics.counter("attn_redis_redeliveries_total", &[]);
    let errors: Vec<_> = crate::library_errors()
        .map(|(dependency, kind, _)| {
            metrics.counter("attn_dependency_errors_total", &[("dependency", dependency), ("kind", kind)])
        })
        .collect();
    let idle = metrics.gauge("attn_db_pool_connections", &[("state", "idle")]);
    let in_use = metrics.gauge("attn_db_pool_connections", &[("state", "in_use")]);
    let max = metrics.gauge("attn_db_pool_max_connections", &[]);
    let connected = metrics.gauge("attn_redis_pool_clients", &[("state", "connected")]);
    let disconnected = metrics.gauge("attn_redis_pool_clients", &[("state", "disconnected")]);
    let redis_up = metrics.gauge(DEPENDENCY_UP, &[("dependency", "redis")]);
    let postgres_up = metrics.gauge(DEPENDENCY_UP, &[("dependency", "postgres")]);
    metrics.add_collector(move || {
        let pool = archive.pool();
        let (size, free) = (pool.size(), pool.num_idle() as u32);
        idle.set(free);
        in_use.set(size.saturating_sub(free));
        max.set(max_connections);
        let clients = live.pool().clients();
        let up = clients.iter().filter(|client| client.is_connected()).count();
        connected.set(up as f64);
        disconnected.set((clients.len() - up) as f64);
        queued.set(clients.iter().map(|client| client.command_queue_len()).sum::<usize>() as f64);
        redeliveries.absolute(clients.iter().map(|client| client.read_redelivery_count() as u64).sum());
        for (counter, (_, _, total)) in errors.iter().zip(crate::library_errors()) {
            counter.absolute(total);
        }
        // Every connection busy: a SELECT 1 would queue behind the work and
        // time out although PostgreSQL answers it; nothing is learned then.
        let pool_busy = max_connections > 0 && size >= max_connections && free == 0;
        let (archive, live) = (archive.clone(), live.clone());
        let (redis_up, postgres_up) = (redis_up.clone(), postgres_up.clone());
        async move {
            let (redis, postgres) =
                tokio::join!(answers_within(CHECK_TIMEOUT, live.ping()), answers_within(CHECK_TIMEOUT, archive.ping()));
            if let Some(up) = verdict(redis, false) {
                redis_up.set(if up { 1.0 } else { 0.0 });
            }
            if let Some(up) = verdict(postgres, pool_busy) {
                postgres_up.set(if up { 1.0 } else { 0.0 });
            }
        }
    });
}

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Answered,
    Failed,
    TimedOut,
}

async fn answers_within<T, E>(limit: Duration, check: impl Future<Output = Result<T, E>>) -> Check {
    match tokio::time::timeout(limit, check).await {
        Ok(Ok(_)) => Check::Answered,
        Ok(Err(_)) => Check::Failed,
        Err(_) => Check::TimedOut,
    }
}

/// Up, down, or `None` when the check says nothing: it timed out only
/// because every pool connection was busy (the gauge keeps its last value).
pub fn verdict(check: Check, pool_busy: bool) -> Option<bool> {
    match check {
        Check::Answered => Some(true),
        Check::Failed => Some(false),
        Check::TimedOut if pool_busy => None,
        Check::TimedOut => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_up_and_an_error_is_down_however_busy_the_pool() {
        for busy in [false, true] {
            assert_eq!(verdict(Check::Answered, busy), Some(true));
            assert_eq!(verdict(Check::Failed, busy), Some(false));
        }
    }

    #[test]
    fn a_timeout_is_down_unless_every_connection_was_busy() {
        assert_eq!(verdict(Check::TimedOut, false), Some(false));
        assert_eq!(verdict(Check::TimedOut, true), None);
    }

    #[tokio::test]
    async fn a_check_is_bounded_by_its_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<(), ()>(())
        };
        assert_eq!(answers_within(Duration::from_millis(20), slow).await, Check::TimedOut);
        assert_eq!(answers_within(CHECK_TIMEOUT, async { Err::<(), ()>(()) }).await, Check::Failed);
        assert_eq!(answers_within(CHECK_TIMEOUT, async { Ok::<(), ()>(()) }).await, Check::Answered);
    }
}
