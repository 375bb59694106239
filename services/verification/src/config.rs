//! verification-service settings (`ATTN_*` variables; see the README).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use attn_domain::download_address::AllowList;
use attn_runtime::settings::{self, ServerConfig};
use attn_telemetry::LogFormat;
use ipnet::IpNet;
use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

use crate::gateway::GatewaySettings;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_VERIFICATION_ADDR
    #[serde(default = "default_addr")]
    pub verification_addr: String,
    /// ATTN_VERIFICATION_METRICS_ADDR: the admin listener serving Prometheus
    /// text at /metrics (never on the gRPC port).
    #[serde(default = "default_metrics_addr")]
    pub verification_metrics_addr: String,
    /// ATTN_CAMPUS_NETWORKS: CIDRs that pass the network check for every session.
    #[serde(default)]
    pub campus_networks: String,
    /// ATTN_INTERNAL_TOKEN: callers must present it when set.
    #[serde(default)]
    pub internal_token: Option<SecretString>,
    /// ATTN_FACE_GATEWAY_URL: base URL of the face gateway, e.g.
    /// `https://faces.example.edu` (`/submit-job` and `/results/{id}` are
    /// added to it). Empty turns face checks off: security option 3 is then
    /// unavailable and GetCapabilities says so.
    #[serde(default)]
    pub face_gateway_url: String,
    /// ATTN_FACE_TIMEOUT_MS: longest one HTTP request to the gateway may
    /// take, per attempt; the caller's deadline bounds all attempts together.
    #[serde(default = "default_face_timeout_ms")]
    pub face_timeout_ms: u64,
    /// ATTN_FACE_RETRIES: extra attempts (with exponential backoff from
    /// 100 ms) after a connect error or a 5xx to a read; a submission only
    /// after a connect error, 503 or 429, which say the gateway did not take
    /// it. Timeouts are not retried: the gateway may have taken the job.
    #[serde(default = "default_face_retries")]
    pub face_retries: u32,
    /// ATTN_FACE_MAX_IMAGE_BYTES: the largest selfie or reference photo
    /// accepted or downloaded (default 2 MiB).
    #[serde(default = "default_face_max_image_bytes")]
    pub face_max_image_bytes: usize,
    /// ATTN_FACE_PHOTO_TIMEOUT_MS: longest a reference photo download from
    /// its URL may take.
    #[serde(default = "default_face_photo_timeout_ms")]
    pub face_photo_timeout_ms: u64,
    /// ATTN_FACE_PHOTO_ALLOWED_HOSTS: comma-separated host names, addresses
    /// or CIDRs photos may be downloaded from although they are loopback,
    /// private or link-local (e.g. an on-campus photo server, or the
    /// stand-in on 127.0.0.1). Every other non-public address is refused.
    #[serde(default)]
    pub face_photo_allowed_hosts: String,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(skip)]
    pub server: ServerConfig,
}

impl settings::Settings for Config {
    fn load_sections(&mut self, figment: &settings::Figment) -> Result<(), settings::SettingsError> {
        self.server = figment.extract()?;
        Ok(())
    }
}

fn default_addr() -> String {
    "0.0.0.0:50052".into()
}

fn default_metrics_addr() -> String {
    "0.0.0.0:9102".into()
}

fn default_face_timeout_ms() -> u64 {
    3_000
}

fn default_face_retries() -> u32 {
    2
}

fn default_face_max_image_bytes() -> usize {
    2 * 1024 * 1024
}

fn default_face_photo_timeout_ms() -> u64 {
    3_000
}

impl Config {
    pub fn campus_networks(&self) -> anyhow::Result<Vec<IpNet>> {
        settings::parse_cidr_list("ATTN_CAMPUS_NETWORKS", &self.campus_networks)
    }

    /// The face gateway, or `None` when face checks are off.
    pub fn face_gateway(&self) -> anyhow::Result<Option<GatewaySettings>> {
        let url = self.face_gateway_url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let base_url = Url::parse(url).with_context(|| format!("ATTN_FACE_GATEWAY_URL={url:?} is not a URL"))?;
        ensure!(
            matches!(base_url.scheme(), "http" | "https") && base_url.has_host(),
            "ATTN_FACE_GATEWAY_URL={url:?} must be an http:// or https:// URL"
        );
        ensure!(self.face_timeout_ms > 0, "ATTN_FACE_TIMEOUT_MS must be above 0");
        ensure!(self.face_photo_timeout_ms > 0, "ATTN_FACE_PHOTO_TIMEOUT_MS must be above 0");
        ensure!(self.face_max_image_bytes > 0, "ATTN_FACE_MAX_IMAGE_BYTES must be above 0");
        ensure!(self.face_retries <= 10, "ATTN_FACE_RETRIES must be at most 10");
        let photo_allowed = AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", &self.face_photo_allowed_hosts)?;
        Ok(Some(GatewaySettings {
            base_url,
            timeout: Duration::from_millis(self.face_timeout_ms),
            retries: self.face_retries,
            max_image_bytes: self.face_max_image_bytes,
            photo_timeout: Duration::from_millis(self.face_photo_timeout_ms),
            photo_allowed,
        }))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            verification_addr: default_addr(),
            verification_metrics_addr: default_metrics_addr(),
            campus_networks: String::new(),
            internal_token: None,
            face_gateway_url: String::new(),
            face_timeout_ms: default_face_timeout_ms(),
            face_retries: default_face_retries(),
            face_max_image_bytes: default_face_max_image_bytes(),
            face_photo_timeout_ms: default_face_photo_timeout_ms(),
            face_photo_allowed_hosts: String::new(),
            log_format: LogFormat::default(),
            server: ServerConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_gateway_url_turns_face_checks_off() {
        assert!(Config::default().face_gateway().unwrap().is_none());
    }

    #[test]
    fn a_gateway_url_must_be_http_or_https() {
        for bad in ["faces.example.edu", "ftp://faces.example.edu", "unix:/run/faces.sock"] {
            let config = Config { face_gateway_url: bad.into(), ..Config::default() };
            let err = config.face_gateway().unwrap_err();
            assert!(err.to_string().contains("ATTN_FACE_GATEWAY_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_face_settings_have_their_documented_defaults() {
        let config = Config { face_gateway_url: "https://faces.example.edu/api".into(), ..Config::default() };
        let gateway = config.face_gateway().unwrap().unwrap();
        assert_eq!(gateway.max_image_bytes, 2 * 1024 * 1024);
        assert_eq!(gateway.retries, 2);
        assert_eq!(gateway.timeout, Duration::from_secs(3));
        assert_eq!(gateway.photo_allowed, AllowList::default(), "no photo host is exempt unless listed");
    }

    #[test]
    fn a_bad_photo_allow_list_names_its_variable() {
        let config = Config {
            face_gateway_url: "https://faces.example.edu".into(),
            face_photo_allowed_hosts: "http://127.0.0.1:8090".into(),
            ..Config::default()
        };
        let err = config.face_gateway().unwrap_err();
        assert!(err.to_string().contains("ATTN_FACE_PHOTO_ALLOWED_HOSTS"), "{err}");
    }
}
