//! Settings: built-in defaults, then an optional TOML file named by
//! `ATTN_CONFIG_FILE`, then `ATTN_*` environment variables (which win).
//! `ATTN_REDIS_URL` sets `redis_url`, and so on.
//!
//! Secrets (URLs with passwords, tokens) are `SecretString`s, so the settings
//! can be logged with `{:?}` without leaking them.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use attn_store::{
    Keys,
    archive::{Pooler, PostgresSettings},
    redis::RedisSettings,
};
use figment::providers::{Env, Format, Toml};
pub use figment::{Error as SettingsError, Figment};
use ipnet::IpNet;
use secrecy::SecretString;
use serde::{Deserialize, de::DeserializeOwned};

/// A service's settings: its own fields, plus the shared sections
/// (Redis, database, server) it fills from the same sources. The sections
/// are read separately rather than `#[serde(flatten)]`ed, because flattening
/// loses the name of a bad setting from the error.
pub trait Settings: DeserializeOwned {
    // Runs once at start-up; figment's error is large, and that is fine here.
    #[allow(clippy::result_large_err)]
    fn load_sections(&mut self, _figment: &Figment) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// Loads a service's settings. Unknown `ATTN_*` variables are ignored, so
/// one environment file can serve the whole stack.
pub fn load<T: Settings>() -> anyhow::Result<T> {
    let mut figment = Figment::new();
    if let Ok(path) = std::env::var("ATTN_CONFIG_FILE") {
        figment = figment.merge(Toml::file_exact(&path));
    }
    let figment = figment.merge(Env::prefixed("ATTN_").ignore(&["CONFIG_FILE"]));
    let context = "invalid settings (see the README's list of ATTN_* variables)";
    let mut settings: T = figment.extract().map_err(explain).context(context)?;
    settings.load_sections(&figment).map_err(explain).context(context)?;
    Ok(settings)
}

/// Names the environment variable behind a bad value.
fn explain(err: figment::Error) -> anyhow::Error {
    let variable = err.path.first().map(|key| format!("ATTN_{}", key.to_uppercase()));
    match variable {
        Some(variable) => anyhow::anyhow!("{variable}: {}", err.kind),
        None => anyhow::anyhow!("{err}"),
    }
}

/// Redis, as every service that uses it configures it.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisConfig {
    #[serde(default = "defaults::redis_url")]
    pub redis_url: SecretString,
    /// Every key starts with this; tests give each run its own.
    #[serde(default = "defaults::redis_key_prefix")]
    pub redis_key_prefix: String,
    #[serde(default = "defaults::redis_pool_size")]
    pub redis_pool_size: usize,
    #[serde(default = "defaults::redis_timeout_ms")]
    pub redis_timeout_ms: u64,
}

impl RedisConfig {
    pub fn store_settings(&self) -> RedisSettings {
        RedisSettings {
            url: self.redis_url.clone(),
            pool_size: self.redis_pool_size,
            command_timeout: Duration::from_millis(self.redis_timeout_ms),
        }
    }

    pub fn keys(&self) -> anyhow::Result<Keys> {
        Keys::new(&self.redis_key_prefix).map_err(anyhow::Error::msg)
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            redis_url: defaults::redis_url(),
            redis_key_prefix: defaults::redis_key_prefix(),
            redis_pool_size: defaults::redis_pool_size(),
            redis_timeout_ms: defaults::redis_timeout_ms(),
        }
    }
}

/// PostgreSQL, as every service that uses it configures it.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    #[serde(default = "defaults::database_url")]
    pub database_url: SecretString,
    /// ATTN_DATABASE_POOLER: `none` (PostgreSQL itself, or a pooler in
    /// session mode) or `transaction` (a pooler in transaction mode, such as
    /// PgBouncer's `pool_mode = transaction`).
    #[serde(default)]
    pub database_pooler: Pooler,
    /// ATTN_DATABASE_MIGRATION_URL: where migrations run (they need a
    /// session of their own: PostgreSQL itself, not a transaction pooler);
    /// unset: ATTN_DATABASE_URL.
    #[serde(default)]
    pub database_migration_url: Option<SecretString>,
    #[serde(default = "defaults::database_max_connections")]
    pub database_max_connections: u32,
    #[serde(default = "defaults::database_timeout_ms")]
    pub database_timeout_ms: u64,
}

impl DatabaseConfig {
    pub fn store_settings(&self) -> PostgresSettings {
        PostgresSettings {
            url: self.database_url.clone(),
            migration_url: self.database_migration_url.clone(),
            pooler: self.database_pooler,
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_millis(self.database_timeout_ms),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            database_url: defaults::database_url(),
            database_pooler: Pooler::None,
            database_migration_url: None,
            database_max_connections: defaults::database_max_connections(),
            database_timeout_ms: defaults::database_timeout_ms(),
        }
    }
}

/// How a service serves gRPC.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Longest a unary call may run before it is cut off.
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long in-flight calls get to finish after SIGTERM.
    #[serde(default = "defaults::shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Calls handled at once per connection before new ones wait.
    #[serde(default = "defaults::concurrency_per_connection")]
    pub concurrency_per_connection: usize,
    /// ATTN_DEV_MODE: a development machine. Allows running without
    /// ATTN_INTERNAL_TOKEN and on a Redis that may evict keys; never set it
    /// in production.
    #[serde(default)]
    pub dev_mode: bool,
}

/// The shortest internal token accepted outside development mode.
pub const MIN_INTERNAL_TOKEN_CHARS: usize = 16;

impl ServerConfig {
    /// The shared secret between ATTN's services (`ATTN_INTERNAL_TOKEN`).
    /// Required, and at least [`MIN_INTERNAL_TOKEN_CHARS`] long, unless in
    /// development mode: without it verification-service answers anyone who
    /// reaches its port.
    pub fn internal_token(&self, token: Option<&SecretString>) -> anyhow::Result<Option<SecretString>> {
        use secrecy::ExposeSecret as _;
        let token = token.filter(|token| !token.expose_secret().trim().is_empty());
        match token {
            None if self.dev_mode => {
                tracing::warn!("ATTN_INTERNAL_TOKEN is not set: internal calls are not checked (ATTN_DEV_MODE)");
                Ok(None)
            }
            None => anyhow::bail!(
                "ATTN_INTERNAL_TOKEN is not set: verification-service would answer anyone who reaches its port. \
                 Set the same secret on every ATTN service (or ATTN_DEV_MODE=true on a development machine)"
            ),
            Some(token) if !self.dev_mode && token.expose_secret().chars().count() < MIN_INTERNAL_TOKEN_CHARS => {
                anyhow::bail!("ATTN_INTERNAL_TOKEN must be at least {MIN_INTERNAL_TOKEN_CHARS} characters long")
            }
            Some(token) => Ok(Some(token.clone())),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: defaults::request_timeout_ms(),
            shutdown_grace_ms: defaults::shutdown_grace_ms(),
            concurrency_per_connection: defaults::concurrency_per_connection(),
            dev_mode: false,
        }
    }
}

/// Parses a comma-separated list of CIDRs from a setting.
pub fn parse_cidr_list(setting: &'static str, value: &str) -> anyhow::Result<Vec<IpNet>> {
    let items: Vec<String> =
        value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect();
    attn_domain::network::parse_networks(setting, &items).map_err(|err| anyhow::anyhow!("{setting}: {}", err.message))
}

pub fn parse_listen_addr(setting: &'static str, value: &str) -> anyhow::Result<SocketAddr> {
    value.parse().with_context(|| format!("{setting}={value:?} is not an address like 0.0.0.0:50051"))
}

pub mod defaults {
    use secrecy::SecretString;

    pub fn redis_url() -> SecretString {
        "redis://127.0.0.1:6379".into()
    }
    pub fn redis_key_prefix() -> String {
        "attn".into()
    }
    /// Redis runs commands one at a time anyway; fewer connections let the
    /// client pipeline more commands per write (8 → 2 took a check-in from
    /// about 160 to 130 µs of CPU in attn-bench).
    pub fn redis_pool_size() -> usize {
        2
    }
    pub fn redis_timeout_ms() -> u64 {
        2_000
    }
    pub fn database_url() -> SecretString {
        "postgres://postgres@127.0.0.1:5432/attn".into()
    }
    pub fn database_max_connections() -> u32 {
        10
    }
    pub fn database_timeout_ms() -> u64 {
        3_000
    }
    pub fn request_timeout_ms() -> u64 {
        15_000
    }
    pub fn shutdown_grace_ms() -> u64 {
        20_000
    }
    pub fn concurrency_per_connection() -> usize {
        256
    }
}

#[cfg(test)]
// figment's Jail API fixes the closure's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn cidr_lists_are_comma_separated_and_may_be_empty() {
        assert!(parse_cidr_list("ATTN_TRUSTED_PROXIES", "").unwrap().is_empty());
        let nets = parse_cidr_list("ATTN_TRUSTED_PROXIES", " 10.0.0.0/8 ,fd00::/8,").unwrap();
        assert_eq!(nets.len(), 2);
        let err = parse_cidr_list("ATTN_TRUSTED_PROXIES", "10.0.0.0/8,nope").unwrap_err();
        assert!(err.to_string().contains("ATTN_TRUSTED_PROXIES"));
    }

    #[test]
    fn the_internal_token_is_required_outside_development_mode() {
        let production = ServerConfig::default();
        let err = production.internal_token(None).unwrap_err().to_string();
        assert!(err.contains("ATTN_INTERNAL_TOKEN"), "{err}");
        assert!(production.internal_token(Some(&"  ".into())).is_err(), "blank is unset");
        assert!(production.internal_token(Some(&"short".into())).is_err());
        assert!(production.internal_token(Some(&"a-long-enough-secret".into())).unwrap().is_some());
        let development = ServerConfig { dev_mode: true, ..ServerConfig::default() };
        assert!(development.internal_token(None).unwrap().is_none());
        assert!(development.internal_token(Some(&"short".into())).unwrap().is_some());
    }

    #[derive(Debug, Deserialize)]
    struct Example {
        #[serde(skip)]
        redis: RedisConfig,
        #[serde(default)]
        demo_accounts: bool,
    }

    impl Settings for Example {
        fn load_sections(&mut self, figment: &Figment) -> Result<(), SettingsError> {
            self.redis = figment.extract()?;
            Ok(())
        }
    }

    #[test]
    fn attn_variables_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ATTN_REDIS_KEY_PREFIX", "campus-a");
            jail.set_env("ATTN_REDIS_POOL_SIZE", "3");
            jail.set_env("ATTN_DEMO_ACCOUNTS", "true");
            let example: Example = load().map_err(|e| e.to_string())?;
            assert_eq!(example.redis.redis_key_prefix, "campus-a");
            assert_eq!(example.redis.redis_pool_size, 3);
            assert!(example.demo_accounts);
            assert_eq!(example.redis.redis_timeout_ms, 2_000);
            Ok(())
        });
    }

    #[test]
    fn a_config_file_is_read_and_the_environment_wins() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("attn.toml", "redis_key_prefix = \"from-file\"\nredis_pool_size = 5\n")?;
            jail.set_env("ATTN_CONFIG_FILE", "attn.toml");
            jail.set_env("ATTN_REDIS_POOL_SIZE", "7");
            let example: Example = load().map_err(|e| e.to_string())?;
            assert_eq!(example.redis.redis_key_prefix, "from-file");
            assert_eq!(example.redis.redis_pool_size, 7);
            Ok(())
        });
    }

    #[derive(Debug, Deserialize)]
    struct WithDatabase {
        #[serde(skip)]
        database: DatabaseConfig,
    }

    impl Settings for WithDatabase {
        fn load_sections(&mut self, figment: &Figment) -> Result<(), SettingsError> {
            self.database = figment.extract()?;
            Ok(())
        }
    }

    #[test]
    fn the_database_is_direct_by_default_and_a_transaction_pooler_is_named() {
        use secrecy::ExposeSecret as _;
        figment::Jail::expect_with(|jail| {
            let direct: WithDatabase = load().map_err(|e| e.to_string())?;
            assert_eq!(direct.database.database_pooler, Pooler::None);
            assert!(direct.database.database_migration_url.is_none());
            jail.set_env("ATTN_DATABASE_POOLER", "transaction");
            jail.set_env("ATTN_DATABASE_MIGRATION_URL", "postgres://attn@pg.campus.example:5432/attn");
            let pooled: WithDatabase = load().map_err(|e| e.to_string())?;
            let settings = pooled.database.store_settings();
            assert_eq!(settings.pooler, Pooler::Transaction);
            assert_eq!(
                settings.migration_url.as_ref().map(|url| url.expose_secret().to_owned()).as_deref(),
                Some("postgres://attn@pg.campus.example:5432/attn")
            );
            jail.set_env("ATTN_DATABASE_POOLER", "statement");
            let err = load::<WithDatabase>().unwrap_err();
            assert!(format!("{err:#}").contains("ATTN_DATABASE_POOLER"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ATTN_REDIS_POOL_SIZE", "many");
            let err = load::<Example>().unwrap_err();
            assert!(format!("{err:#}").contains("ATTN_REDIS_POOL_SIZE"), "{err:#}");
            Ok(())
        });
    }
}
