//! attendance-service settings: `ATTN_*` variables (see the README for the
//! full list), an optional `ATTN_CONFIG_FILE`, and these defaults.

use std::path::PathBuf;

use anyhow::Context as _;
use attn_domain::client_address::{MAX_TRUSTED_HOPS, TrustedProxies};
use attn_runtime::settings::{self, ServerConfig};
use attn_store::config::{DatabaseConfig, RedisConfig};
use attn_telemetry::LogFormat;
use http::HeaderValue;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_ATTENDANCE_ADDR: where the public API listens.
    #[serde(default = "defaults::addr")]
    pub attendance_addr: String,
    /// ATTN_ATTENDANCE_METRICS_ADDR: the admin listener serving Prometheus
    /// text at /metrics (never on the public port).
    #[serde(default = "defaults::metrics_addr")]
    pub attendance_metrics_addr: String,
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
    /// ATTN_TRUSTED_PROXY_HOPS: proxies in the chain in front of the service,
    /// each appending one x-forwarded-for hop (Envoy alone: 1; a campus load
    /// balancer in front of Envoy: 2). Envoy's `xff_num_trusted_hops` is one less.
    #[serde(default = "defaults::trusted_proxy_hops")]
    pub trusted_proxy_hops: usize,
    /// ATTN_TEACHER_TOKEN_TTL_SECS
    #[serde(default = "defaults::teacher_ttl")]
    pub teacher_token_ttl_secs: u64,
    /// ATTN_STUDENT_TOKEN_TTL_SECS
    #[serde(default = "defaults::student_ttl")]
    pub student_token_ttl_secs: u64,
    /// ATTN_ADMIN_TOKEN_TTL_SECS
    #[serde(default = "defaults::teacher_ttl")]
    pub admin_token_ttl_secs: u64,
    /// ATTN_TOKEN_CACHE_MS: how long a replica may answer a token check
    /// from memory (logouts reach every replica at once through Redis
    /// pub/sub; this bounds the rare case where one is missed); 0: always
    /// read Redis.
    #[serde(default = "defaults::token_cache_ms")]
    pub token_cache_ms: u64,
    /// ATTN_ATTENDANCE_WARNING_PERCENT: GetCourseReport flags students who
    /// attended less than this share of a course's sessions (0 to 100).
    #[serde(default = "defaults::attendance_warning_percent")]
    pub attendance_warning_percent: u32,
    /// ATTN_DEMO_ACCOUNTS: create demo_teacher_1..10, demo_student_1..500
    /// and demo_admin, password "password".
    #[serde(default)]
    pub demo_accounts: bool,
    /// ATTN_DEMO_PHOTO_BASE_URL: demo students' reference photos are
    /// `<this>/<school number>.jpg` (e.g. the stand-in gateway's
    /// http://127.0.0.1:8090/photos); empty: demo students have none.
    #[serde(default)]
    pub demo_photo_base_url: String,
    /// ATTN_LOGIN_ATTEMPTS_PER_MINUTE: per user name, and ten times that per client address.
    #[serde(default = "defaults::login_per_minute")]
    pub login_attempts_per_minute: u32,
    /// ATTN_ATTEND_ATTEMPTS_PER_MINUTE: check-in calls per student.
    #[serde(default = "defaults::attend_per_minute")]
    pub attend_attempts_per_minute: u32,
    /// ATTN_PASSWORD_CHECK_QUEUE: sign-ins that may wait for a password
    /// check on this replica; more are refused at once (RESOURCE_EXHAUSTED
    /// with a hint of when to try again).
    #[serde(default = "defaults::password_check_queue")]
    pub password_check_queue: usize,
    /// ATTN_PASSWORD_THREADS: threads that hash and check passwords
    /// (argon2id, 19 MiB of working memory each, reused while
    /// sign-ins are queued, freed when none are);
    /// unset: half the cores, at least one.
    #[serde(default)]
    pub password_threads: Option<usize>,
    /// ATTN_STREAMS_PER_USER: WatchRecords and WatchMyRecord streams one
    /// user may hold open at once on each replica.
    #[serde(default = "defaults::streams_per_user")]
    pub streams_per_user: usize,
    /// ATTN_OPEN_SESSIONS_REFRESH_MS: how often each replica asks Redis
    /// whether the open sessions changed (one small read of every index
    /// shard's generation) and reloads the shards that did, for search.
    /// Sessions started or closed on this replica show at once; on others
    /// within this long.
    #[serde(default = "defaults::open_sessions_refresh_ms")]
    pub open_sessions_refresh_ms: u64,
    /// ATTN_SELFIE_MAX_BYTES
    #[serde(default = "defaults::selfie_max_bytes")]
    pub selfie_max_bytes: usize,
    /// ATTN_CORS_ORIGINS: comma-separated origins (`https://host[:port]`)
    /// whose pages may call with grpc-web; empty: same-origin only.
    #[serde(default)]
    pub cors_origins: String,
    /// ATTN_WEB_DIR: the browser app's built files, served on the API's port.
    /// Unset: `services/attendance/web/dist` of the source tree this binary
    /// was built from, if it has been built; empty: serve no files.
    #[serde(default)]
    pub web_dir: Option<String>,
    /// ATTN_PUBLIC_URL: where students open the browser app
    /// (`https://attn.example.edu`, or with a path); the check-in code's QR
    /// payload links there. Empty: WatchCheckInCode sends no payload (the
    /// browser app then links to its own address).
    #[serde(default)]
    pub public_url: String,
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
    pub fn trusted_proxies(&self) -> anyhow::Result<TrustedProxies> {
        anyhow::ensure!(
            (1..=MAX_TRUSTED_HOPS).contains(&self.trusted_proxy_hops),
            "ATTN_TRUSTED_PROXY_HOPS must be 1 to {MAX_TRUSTED_HOPS}, not {}",
            self.trusted_proxy_hops
        );
        Ok(TrustedProxies {
            networks: settings::parse_cidr_list("ATTN_TRUSTED_PROXIES", &self.trusted_proxies)?,
            hops: self.trusted_proxy_hops,
        })
    }

    pub fn cors_origins(&self) -> anyhow::Result<Vec<HeaderValue>> {
        self.cors_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).map(parse_origin).collect()
    }

    /// The directory of the browser app to serve, if any.
    pub fn web_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        match self.web_dir.as_deref().map(str::trim) {
            Some("") => Ok(None),
            Some(dir) => {
                let dir = PathBuf::from(dir);
                anyhow::ensure!(
                    dir.join("index.html").is_file(),
                    "ATTN_WEB_DIR={}: no index.html there (build the app: cd services/attendance/web && npm ci && npm run build)",
                    dir.display()
                );
                Ok(Some(dir))
            }
            None => {
                let built = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist"));
                Ok(built.join("index.html").is_file().then_some(built))
            }
        }
    }
}

impl Config {
    /// ATTN_ATTENDANCE_WARNING_PERCENT, checked.
    pub fn warning_percent(&self) -> anyhow::Result<u32> {
        anyhow::ensure!(
            self.attendance_warning_percent <= 100,
            "ATTN_ATTENDANCE_WARNING_PERCENT must be 0 to 100, not {}",
            self.attendance_warning_percent
        );
        Ok(self.attendance_warning_percent)
    }

    /// ATTN_PUBLIC_URL without its trailing slash, if set.
    pub fn public_url(&self) -> anyhow::Result<Option<String>> {
        let url = self.public_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Ok(None);
        }
        let uri: http::Uri = url.parse().map_err(|_| anyhow::anyhow!("ATTN_PUBLIC_URL: {url:?} is not a URL"))?;
        anyhow::ensure!(
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && uri.query().is_none()
                && !url.contains('#'),
            "ATTN_PUBLIC_URL: {url:?} must be http(s)://host[:port][/path], without a query or fragment"
        );
        Ok(Some(url.to_owned()))
    }
}

/// An origin as a browser sends it in `Origin`: `scheme://host[:port]`, nothing more.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let refuse = |why: &str| {
        anyhow::anyhow!("ATTN_CORS_ORIGINS: {origin:?} {why}; an origin is http(s)://host[:port], as browsers send it")
    };
    let uri: http::Uri = origin.parse().map_err(|_| refuse("is not an origin"))?;
    let (Some(scheme @ ("http" | "https")), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(refuse("is not an origin"));
    };
    if origin != format!("{scheme}://{authority}") || authority.as_str().contains('@') {
        return Err(refuse("has more than scheme, host and port (a path, a trailing slash, a user)"));
    }
    HeaderValue::from_str(origin).context("ATTN_CORS_ORIGINS")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            attendance_addr: defaults::addr(),
            attendance_metrics_addr: defaults::metrics_addr(),
            verification_url: defaults::verification_url(),
            verification_timeout_ms: defaults::verification_timeout_ms(),
            internal_token: None,
            trusted_proxies: String::new(),
            trusted_proxy_hops: defaults::trusted_proxy_hops(),
            teacher_token_ttl_secs: defaults::teacher_ttl(),
            student_token_ttl_secs: defaults::student_ttl(),
            admin_token_ttl_secs: defaults::teacher_ttl(),
            token_cache_ms: defaults::token_cache_ms(),
            attendance_warning_percent: defaults::attendance_warning_percent(),
            demo_accounts: false,
            demo_photo_base_url: String::new(),
            login_attempts_per_minute: defaults::login_per_minute(),
            attend_attempts_per_minute: defaults::attend_per_minute(),
            password_check_queue: defaults::password_check_queue(),
            password_threads: None,
            streams_per_user: defaults::streams_per_user(),
            open_sessions_refresh_ms: defaults::open_sessions_refresh_ms(),
            selfie_max_bytes: defaults::selfie_max_bytes(),
            cors_origins: String::new(),
            web_dir: None,
            public_url: String::new(),
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
    pub fn metrics_addr() -> String {
        "0.0.0.0:9101".into()
    }
    pub fn verification_url() -> String {
        "http://127.0.0.1:50052".into()
    }
    pub fn verification_timeout_ms() -> u64 {
        3_000
    }
    pub fn trusted_proxy_hops() -> usize {
        1
    }
    pub fn teacher_ttl() -> u64 {
        3_600
    }
    pub fn student_ttl() -> u64 {
        600
    }
    pub fn token_cache_ms() -> u64 {
        30_000
    }
    pub fn login_per_minute() -> u32 {
        10
    }
    pub fn attend_per_minute() -> u32 {
        30
    }
    /// A lecture hall signing in at once: ~128 checks wait a few seconds on
    /// two cores, well inside a call's timeout.
    pub fn password_check_queue() -> usize {
        128
    }
    pub fn streams_per_user() -> usize {
        8
    }
    pub fn open_sessions_refresh_ms() -> u64 {
        250
    }
    pub fn selfie_max_bytes() -> usize {
        2 * 1024 * 1024
    }

    pub fn attendance_warning_percent() -> u32 {
        70
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(value: &str) -> anyhow::Result<Vec<HeaderValue>> {
        Config { cors_origins: value.into(), ..Config::default() }.cors_origins()
    }

    #[test]
    fn the_warning_percentage_is_0_to_100() {
        let with = |percent| Config { attendance_warning_percent: percent, ..Config::default() }.warning_percent();
        assert_eq!(Config::default().warning_percent().unwrap(), 70);
        assert_eq!(with(0).unwrap(), 0);
        assert_eq!(with(100).unwrap(), 100);
        let refused = with(101).unwrap_err().to_string();
        assert!(refused.contains("ATTN_ATTENDANCE_WARNING_PERCENT must be 0 to 100, not 101"), "{refused}");
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_that_may_be_empty() {
        assert!(origins("").unwrap().is_empty());
        assert!(origins(" , ").unwrap().is_empty());
        let list = origins("https://attn.example.edu, http://localhost:5173,http://[::1]:8080").unwrap();
        assert_eq!(list, ["https://attn.example.edu", "http://localhost:5173", "http://[::1]:8080"]);
    }

    #[test]
    fn anything_but_an_origin_is_refused_by_name() {
        for bad in ["attn.example.edu", "ftp://attn.example.edu", "https://attn.example.edu/", "https://a.edu/app", "*"]
        {
            let err = origins(bad).unwrap_err().to_string();
            assert!(err.contains("ATTN_CORS_ORIGINS"), "{bad}: {err}");
        }
    }

    #[test]
    fn trusted_proxy_hops_are_one_by_default_and_bounded() {
        assert_eq!(Config::default().trusted_proxies().unwrap().hops, 1);
        for bad in [0, MAX_TRUSTED_HOPS + 1] {
            let err = Config { trusted_proxy_hops: bad, ..Config::default() }.trusted_proxies().unwrap_err();
            assert!(err.to_string().contains("ATTN_TRUSTED_PROXY_HOPS"), "{err}");
        }
    }

    #[test]
    fn the_public_url_is_optional_an_http_url_and_loses_its_trailing_slash() {
        let config = |url: &str| Config { public_url: url.into(), ..Config::default() };
        assert_eq!(config("").public_url().unwrap(), None);
        assert_eq!(
            config("https://attn.example.edu/").public_url().unwrap().as_deref(),
            Some("https://attn.example.edu")
        );
        assert_eq!(
            config("http://10.0.0.5:8080/attn").public_url().unwrap().as_deref(),
            Some("http://10.0.0.5:8080/attn")
        );
        for bad in ["attn.example.edu", "ftp://a.edu", "https://a.edu/?x=1", "https://a.edu/#top"] {
            let err = config(bad).public_url().unwrap_err().to_string();
            assert!(err.contains("ATTN_PUBLIC_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_empty_web_dir_serves_no_files_and_a_missing_one_is_an_error() {
        let config = |dir: &str| Config { web_dir: Some(dir.into()), ..Config::default() };
        assert_eq!(config("").web_dir().unwrap(), None);
        let err = config("/nonexistent/attn-web").web_dir().unwrap_err().to_string();
        assert!(err.contains("ATTN_WEB_DIR"), "{err}");
    }
}
