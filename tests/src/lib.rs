//! The test harness: each [`TestEnv`] starts the real ATTN services on
//! loopback ports against real Redis and real PostgreSQL, with its own
//! database and its own Redis key prefix, and removes both when dropped.
//!
//! Needs Redis and PostgreSQL running; `ATTN_TEST_REDIS_URL` and
//! `ATTN_TEST_DATABASE_URL` (a database the tests may create others from)
//! say where, defaulting to the local ones. A missing server fails the test
//! with a message naming it; it never passes silently. With
//! `ATTN_TEST_POOLER_URL` (a pooler in transaction mode in front of that
//! PostgreSQL, as `tests/pgbouncer/run.sh` starts one) the services reach
//! their databases through it.
//!
//! [`ServiceProcess`] runs a service as its built binary, and
//! [`OtlpReceiver`] collects the spans such processes export.
//!
//! [`ClusterEnv`] runs every service twice on the Redis Cluster that
//! `tests/run.sh cluster` starts (`ATTN_TEST_REDIS_CLUSTER_URL`).

mod clients;
mod cluster;
mod env;
mod face;
mod otlp;
mod processes;
mod proxy;
mod servers;
mod spare_redis;
mod sweeper;

pub use clients::{Bearer, Clients, StudentClient, TeacherClient, bearer};
pub use cluster::{CLUSTER_DIR_VAR, CLUSTER_URL_VAR, ClusterAccess, ClusterEnv, RedisCluster};
pub use env::{
    AttendanceReplica, TEST_INTERNAL_TOKEN, TestEnv, TestOptions, eventually, postgres_server, redis_server,
};
pub use face::{JournalEntry, Standin, SubmitEntry};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use processes::{ServiceProcess, service_binaries};
pub use proxy::{Proxy, server_of};
pub use servers::{check as check_servers, spawn_watched};
pub use spare_redis::SpareRedis;
pub use sweeper::SweeperReplica;
