//! The Redis and PostgreSQL sections of a service's settings
//! (`ATTN_REDIS_*`, `ATTN_DATABASE_*`), read by
//! [`attn_runtime::settings::load`] like every other setting. They live
//! here, beside the stores they configure, so attn-runtime (and
//! verification-service, which uses neither store) needs no Redis or
//! PostgreSQL client.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    Keys,
    archive::{Pooler, PostgresSettings},
    redis::RedisSettings,
};

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
}

#[cfg(test)]
// figment's Jail API fixes the closure's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use attn_runtime::settings::{Figment, Settings, SettingsError, load};

    use super::*;

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
