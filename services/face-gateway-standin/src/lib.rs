//! # A STAND-IN for the face gateway
//!
//! ATTN does not own the face gateway: it is an external HTTP service (see
//! "The face gateway" in DESIGN.md). This crate speaks the same contract so
//! ATTN can be developed, demonstrated and tested without it. It matches no
//! faces: each job's outcome comes from the student number.
//!
//! ## Contract
//!
//! - `POST /submit-job`, multipart `picture`, `intended_picture`,
//!   `student_school_number` → `202 {"job_id": "…"}`. An `Idempotency-Key`
//!   header seen before gets the job it made, and no second job.
//! - `GET /results/{job_id}` → `{"status": "PENDING" | "IN_PROGRESS" |
//!   "SUCCESS" | "FAILURE", "verified": bool, "reason": "…"}`, plus
//!   `finished_at_ms` (unix ms) once final — an extra the real gateway need
//!   not send, so tests can measure how fast a result reaches the record.
//! - `GET /photos/{school_number}.jpg` → a tiny JPEG, the demo students'
//!   reference photos.
//! - `GET /healthz` → `ok`.
//! - Stand-in only: `GET /jobs` (every job, and every submission with its
//!   key, its `traceparent` and its answer) and `GET /redirect?to=<url>` (a 302 to `<url>`).
//!
//! ## Outcome rules (by the student number, case-insensitive)
//!
//! | the number contains | what happens |
//! |---|---|
//! | `reject` | `POST /submit-job` answers 422 |
//! | `error` | `GET /results` always answers 500 |
//! | `flaky` | `GET /results` answers 500 twice, then as a match |
//! | `garbage` | `GET /results` answers 200 with a body that is not JSON |
//! | `mismatch` | FAILURE, `verified: false`, reason [`MISMATCH_REASON`] |
//! | `stuck` | `GET /results` answers PENDING for ever |
//! | `slow` | the job takes `ATTN_STANDIN_SLOW_DELAY_MS` (combines with the others; `slowphoto` and `slowsubmit` do not count) |
//! | `nophoto` | `GET /photos/{number}.jpg` answers 404 |
//! | `slowphoto` | `GET /photos/{number}.jpg` answers after `ATTN_STANDIN_SLOW_DELAY_MS` |
//! | `submit503` | the student's first submission answers 503 without taking the job |
//! | `submit500` | the student's first submission takes the job, then answers 500 |
//! | `slowsubmit` | the student's first submission takes the job, then answers after `ATTN_STANDIN_SLOW_DELAY_MS` |
//! | anything else | SUCCESS, `verified: true` |
//!
//! The first of `reject`, `error`, `flaky`, `garbage`, `mismatch`, `stuck`
//! found wins; the submit words combine with them.
//! A job is PENDING for the first half of its delay, IN_PROGRESS for the
//! second, then final.
//!
//! ## Settings
//!
//! `ATTN_STANDIN_ADDR` (default `127.0.0.1:8090`), `ATTN_STANDIN_DELAY_MS`
//! (default 300), `ATTN_STANDIN_SLOW_DELAY_MS` (default 10000),
//! `ATTN_LOG_FORMAT`.

mod jobs;
mod outcome;
mod photo;
mod routes;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use attn_telemetry::LogFormat;
use serde::Deserialize;
use tokio::net::TcpListener;

pub use outcome::{FLAKY_FAILURES, MISMATCH_REASON, Outcome, Plan, SubmitFault};
pub use photo::TINY_JPEG;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// ATTN_STANDIN_ADDR: where the stand-in listens.
    #[serde(default = "default_addr")]
    pub standin_addr: String,
    /// ATTN_STANDIN_DELAY_MS: how long an ordinary job takes to become final.
    #[serde(default = "default_delay_ms")]
    pub standin_delay_ms: u64,
    /// ATTN_STANDIN_SLOW_DELAY_MS: how long a `slow` job takes (and a
    /// `slowphoto` photo, and a `slowsubmit` first answer).
    #[serde(default = "default_slow_delay_ms")]
    pub standin_slow_delay_ms: u64,
    #[serde(default)]
    pub log_format: LogFormat,
}

fn default_addr() -> String {
    "127.0.0.1:8090".into()
}

fn default_delay_ms() -> u64 {
    300
}

fn default_slow_delay_ms() -> u64 {
    10_000
}

impl Default for Config {
    fn default() -> Self {
        Self {
            standin_addr: default_addr(),
            standin_delay_ms: default_delay_ms(),
            standin_slow_delay_ms: default_slow_delay_ms(),
            log_format: LogFormat::default(),
        }
    }
}

impl Config {
    /// Reads `ATTN_*` variables. The stand-in does not use ATTN's own
    /// settings crate: it imitates an outside service and stays free of
    /// ATTN's stores.
    pub fn from_env() -> anyhow::Result<Self> {
        figment::Figment::new()
            .merge(figment::providers::Env::prefixed("ATTN_"))
            .extract()
            .context("invalid stand-in settings (ATTN_STANDIN_*)")
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.standin_addr
            .parse()
            .with_context(|| format!("ATTN_STANDIN_ADDR={:?} is not an address like 127.0.0.1:8090", self.standin_addr))
    }

    fn delay(&self, plan: Plan) -> Duration {
        Duration::from_millis(if plan.slow { self.standin_slow_delay_ms } else { self.standin_delay_ms })
    }
}

/// Serves the stand-in on an already-bound listener (port 0 in tests) until
/// `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(routes::Standin::new(config));
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the stand-in face gateway stopped")
}
