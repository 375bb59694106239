//! attendance-service settings: `ATTN_*` variables (see the README for the
//! full list), an optional `ATTN_CONFIG_FILE`, and these defaults.

use attn_runtime::settings::{self, DatabaseConfig, RedisConfig, ServerConfig};
use attn_telemetry::LogFormat;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_ATTENDANCE_ADDR: where the public API listens.
    #[serde(default = "defaults::addr")]
    pub attendance_addr: String,
    /// ATTN_VERIFICATION_URL: how to reach verification-service.
    #[serde(default = "defaults::verification_url")]
    pub verification_url: String,
    /// ATTN_VERIFICATION_TIMEOUT_MS: longest a call to verification-service may take.
    #[serde(default = "defaults::verification_timeout_ms")]
    pub verification_timeout_ms: u64,
    /// ATTN_INTERNAL_TOKEN: presented to verification-service.
    #[serde(default)]
    pub internal_token: Option<SecretString>,
    /// ATTN_TRUSTED_PROXIES: CIDRs of proxies whose x-forwarded-for is believed.
    #[serde(default)]
    pub trusted_proxies: String,
    /// ATTN_TEACHER_TOKEN_TTL_SECS
    #[serde(default = "defaults::teacher_ttl")]
    pub teacher_token_ttl_secs: u64,
    /// ATTN_STUDENT_TOKEN_TTL_SECS
    #[serde(default = "defaults::student_ttl")]
    pub student_token_ttl_secs: u64,
    /// ATTN_ADMIN_TOKEN_TTL_SECS
    #[serde(default = "defaults::teacher_ttl")]
    pub admin_token_ttl_secs: u64,
    /// ATTN_DEMO_ACCOUNTS: create demo_teacher_1..10, demo_student_1..500
    /// and demo_admin, password "password".
    #[serde(default)]
    pub demo_accounts: bool,
    /// ATTN_LOGIN_ATTEMPTS_PER_MINUTE: per user name, and ten times that per client address.
    #[serde(default = "defaults::login_per_minute")]
    pub login_attempts_per_minute: u32,
    /// ATTN_ATTEND_ATTEMPTS_PER_MINUTE: check-in calls per student.
    #[serde(default = "defaults::attend_per_minute")]
    pub attend_attempts_per_minute: u32,
    /// ATTN_SELFIE_MAX_BYTES
    #[serde(default = "defaults::selfie_max_bytes")]
    pub selfie_max_bytes: usize,
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

impl Config {
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<IpNet>> {
        settings::parse_cidr_list("ATTN_TRUSTED_PROXIES", &self.trusted_proxies)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            attendance_addr: defaults::addr(),
            verification_url: defaults::verification_url(),
            verification_timeout_ms: defaults::verification_timeout_ms(),
            internal_token: None,
            trusted_proxies: String::new(),
            teacher_token_ttl_secs: defaults::teacher_ttl(),
            student_token_ttl_secs: defaults::student_ttl(),
            admin_token_ttl_secs: defaults::teacher_ttl(),
            demo_accounts: false,
            login_attempts_per_minute: defaults::login_per_minute(),
            attend_attempts_per_minute: defaults::attend_per_minute(),
            selfie_max_bytes: defaults::selfie_max_bytes(),
            log_format: LogFormat::default(),
            redis: RedisConfig::default(),
            database: DatabaseConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

mod defaults {
    pub fn addr() -> String {
        "0.0.0.0:50051".into()
    }
    pub fn verification_url() -> String {
        "http://127.0.0.1:50052".into()
    }
    pub fn verification_timeout_ms() -> u64 {
        3_000
    }
    pub fn teacher_ttl() -> u64 {
        3_600
    }
    pub fn student_ttl() -> u64 {
        600
    }
    pub fn login_per_minute() -> u32 {
        10
    }
    pub fn attend_per_minute() -> u32 {
        30
    }
    pub fn selfie_max_bytes() -> usize {
        2 * 1024 * 1024
    }
}
