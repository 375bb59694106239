//! sweeper-service settings: `ATTN_*` variables (see the README).

use attn_runtime::settings::{self, ServerConfig};
use attn_store::config::{DatabaseConfig, RedisConfig};
use attn_telemetry::LogFormat;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_SWEEPER_ADDR: where the operators' API listens.
    #[serde(default = "defaults::addr")]
    pub sweeper_addr: String,
    /// ATTN_SWEEPER_METRICS_ADDR: the admin listener serving Prometheus
    /// text at /metrics (never on the gRPC port).
    #[serde(default = "defaults::metrics_addr")]
    pub sweeper_metrics_addr: String,
    /// ATTN_SWEEP_ATTENDANCES_SCHEDULE: cron (with seconds) for sweep_attendances.
    #[serde(default = "defaults::every_minute")]
    pub sweep_attendances_schedule: String,
    /// ATTN_SWEEP_USERS_SCHEDULE: cron (with seconds) for sweep_users.
    #[serde(default = "defaults::every_minute_at_30")]
    pub sweep_users_schedule: String,
    /// ATTN_CHECK_FACE_RESULTS_SCHEDULE: cron (with seconds) for the durable
    /// pass of check_face_verification_results over every due job.
    #[serde(default = "defaults::every_minute_at_15")]
    pub check_face_results_schedule: String,
    /// ATTN_FACE_POLL_INTERVAL_MS: the fast path — how often due face jobs are
    /// checked between scheduled passes (0 turns the fast path off).
    #[serde(default = "defaults::face_poll_interval_ms")]
    pub face_poll_interval_ms: u64,
    /// ATTN_FACE_MAX_ERRORS: consecutive gateway errors on one job before its
    /// check-in fails with a clear reason.
    #[serde(default = "defaults::face_max_errors")]
    pub face_max_errors: u32,
    /// ATTN_FACE_MAX_AGE_SECS: a face job with no verdict this long after it
    /// was submitted (still pending, or its results still failing) fails its
    /// check-in as FACE_VERIFICATION_TIMED_OUT, so the student can try again.
    #[serde(default = "defaults::face_max_age_secs")]
    pub face_max_age_secs: u64,
    /// ATTN_VERIFICATION_URL: how to reach verification-service.
    #[serde(default = "defaults::verification_url")]
    pub verification_url: String,
    /// ATTN_VERIFICATION_TIMEOUT_MS
    #[serde(default = "defaults::verification_timeout_ms")]
    pub verification_timeout_ms: u64,
    /// ATTN_INTERNAL_TOKEN: presented to verification-service.
    #[serde(default)]
    pub internal_token: Option<secrecy::SecretString>,
    /// ATTN_SCHEDULER_ENABLED: run jobs on their cron schedules (off: only
    /// RunJob and the face fast path run them).
    #[serde(default = "defaults::yes")]
    pub scheduler_enabled: bool,
    /// ATTN_SWEEP_GRACE_SECS: how long an ended session with face checks
    /// still pending waits before it is archived anyway.
    #[serde(default = "defaults::grace_secs")]
    pub sweep_grace_secs: u64,
    /// ATTN_SWEEP_BATCH_SIZE: sessions (or sign-ins) taken per run; the rest wait for the next.
    #[serde(default = "defaults::batch")]
    pub sweep_batch_size: usize,
    /// ATTN_SWEEP_CONCURRENCY: sessions archived at once.
    #[serde(default = "defaults::concurrency")]
    pub sweep_concurrency: usize,
    /// ATTN_JOB_LEASE_SECS: how long a replica's claim on a job lasts without renewal.
    #[serde(default = "defaults::lease_secs")]
    pub job_lease_secs: u64,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(skip)]
    pub redis: RedisConfig,
    #[serde(skip)]
    pub database: DatabaseConfig,
    #[serde(skip)]
    pub server: ServerConfig,
}

impl settings::Settings for Config {
    fn load_sections(&mut self, figment: &settings::Figment) -> Result<(), settings::SettingsError> {
        self.redis = figment.extract()?;
        self.database = figment.extract()?;
        self.server = figment.extract()?;
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sweeper_addr: defaults::addr(),
            sweeper_metrics_addr: defaults::metrics_addr(),
            sweep_attendances_schedule: defaults::every_minute(),
            sweep_users_schedule: defaults::every_minute_at_30(),
            check_face_results_schedule: defaults::every_minute_at_15(),
            face_poll_interval_ms: defaults::face_poll_interval_ms(),
            face_max_errors: defaults::face_max_errors(),
            face_max_age_secs: defaults::face_max_age_secs(),
            verification_url: defaults::verification_url(),
            verification_timeout_ms: defaults::verification_timeout_ms(),
            internal_token: None,
            scheduler_enabled: true,
            sweep_grace_secs: defaults::grace_secs(),
            sweep_batch_size: defaults::batch(),
            sweep_concurrency: defaults::concurrency(),
            job_lease_secs: defaults::lease_secs(),
            log_format: LogFormat::default(),
            redis: RedisConfig::default(),
            database: DatabaseConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

mod defaults {
    pub fn addr() -> String {
        "0.0.0.0:50053".into()
    }
    pub fn metrics_addr() -> String {
        "0.0.0.0:9103".into()
    }
    pub fn every_minute() -> String {
        "0 * * * * *".into()
    }
    pub fn every_minute_at_30() -> String {
        "30 * * * * *".into()
    }
    pub fn every_minute_at_15() -> String {
        "15 * * * * *".into()
    }
    pub fn face_poll_interval_ms() -> u64 {
        100
    }
    pub fn face_max_errors() -> u32 {
        8
    }
    pub fn face_max_age_secs() -> u64 {
        300
    }
    pub fn verification_url() -> String {
        "http://127.0.0.1:50052".into()
    }
    pub fn verification_timeout_ms() -> u64 {
        3_000
    }
    pub fn yes() -> bool {
        true
    }
    pub fn grace_secs() -> u64 {
        120
    }
    pub fn batch() -> usize {
        500
    }
    pub fn concurrency() -> usize {
        4
    }
    pub fn lease_secs() -> u64 {
        60
    }
}
