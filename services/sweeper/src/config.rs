//! sweeper-service settings: `ATTN_*` variables (see the README).

use attn_runtime::settings::{self, DatabaseConfig, RedisConfig, ServerConfig};
use attn_telemetry::LogFormat;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_SWEEPER_ADDR: where the operators' API listens.
    #[serde(default = "defaults::addr")]
    pub sweeper_addr: String,
    /// ATTN_SWEEP_ATTENDANCES_SCHEDULE: cron (with seconds) for sweep_attendances.
    #[serde(default = "defaults::every_minute")]
    pub sweep_attendances_schedule: String,
    /// ATTN_SWEEP_USERS_SCHEDULE: cron (with seconds) for sweep_users.
    #[serde(default = "defaults::every_minute_at_30")]
    pub sweep_users_schedule: String,
    /// ATTN_SCHEDULER_ENABLED: run jobs on their schedules (off: only RunJob runs them).
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
            sweep_attendances_schedule: defaults::every_minute(),
            sweep_users_schedule: defaults::every_minute_at_30(),
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
    pub fn every_minute() -> String {
        "0 * * * * *".into()
    }
    pub fn every_minute_at_30() -> String {
        "30 * * * * *".into()
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
