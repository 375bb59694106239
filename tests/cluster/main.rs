//! ATTN on a Redis Cluster: every service twice (two attendance-service
//! replicas, two verification-services, two sweeper-services) on the
//! 3-master, 3-replica cluster that `tests/run.sh cluster` starts on
//! loopback, each test with its own database and key prefix.
//!
//! Not part of `cargo test --workspace` (`test = false` in Cargo.toml):
//! without `ATTN_TEST_REDIS_CLUSTER_URL` every test here fails, saying to
//! run `tests/run.sh cluster`.

mod failover;
mod flows;
mod support;
