//! Settings: built-in defaults, then an optional TOML file named by
//! `ATTN_CONFIG_FILE`, then `ATTN_*` environment variables (which win).
//! `ATTN_REDIS_URL` sets `redis_url`, and so on.
//!
//! Secrets (URLs with passwords, tokens) are `SecretString`s, so the settings
//! can be logged with `{:?}` without leaking them.

use std::net::SocketAddr;

use anyhow::Context as _;
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
}
