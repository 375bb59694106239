//! The PostgreSQL and Redis pools as gauges, read at scrape time from what
//! the client libraries expose: sqlx's pool size and idle connections, and
//! fred's pool clients and whether each is connected.

use attn_store::{Archive, LiveStore};
use attn_telemetry::Metrics;
use fred::interfaces::ClientLike as _;

pub fn register(metrics: &Metrics, archive: Archive, live: LiveStore, max_connections: u32) {
    metrics.describe_gauge("attn_db_pool_connections", "PostgreSQL connections in the pool, by state (idle, in_use)");
    metrics.describe_gauge("attn_db_pool_max_connections", "Most PostgreSQL connections the pool opens");
    metrics.describe_gauge("attn_redis_pool_clients", "Redis pool clients, by state (connected, disconnected)");
    let idle = metrics.gauge("attn_db_pool_connections", &[("state", "idle")]);
    let in_use = metrics.gauge("attn_db_pool_connections", &[("state", "in_use")]);
    let max = metrics.gauge("attn_db_pool_max_connections", &[]);
    let connected = metrics.gauge("attn_redis_pool_clients", &[("state", "connected")]);
    let disconnected = metrics.gauge("attn_redis_pool_clients", &[("state", "disconnected")]);
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
        async {}
    });
}
