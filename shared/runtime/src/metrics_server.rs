//! The admin listener: Prometheus text at `/metrics`, on a port of its own
//! (`ATTN_*_METRICS_ADDR`), never on the public gRPC port.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use attn_telemetry::Metrics;
use axum::{Router, http::header, response::IntoResponse, routing::get};
use tokio::net::TcpListener;

use crate::{Shutdown, settings};

/// Prometheus's text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often recorded histogram samples are folded into their buckets when
/// nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A bound admin listener (port 0 picks a free one; see [`MetricsListener::local_addr`]).
pub struct MetricsListener {
    listener: TcpListener,
}

/// Whether an `ATTN_*_METRICS_ADDR` value turns metrics off (`off`): no
/// admin listener, and every measurement a no-op.
pub fn metrics_off(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("off")
}

/// The registry a service keeps for the admin address `value`.
pub fn registry_for(value: &str) -> Metrics {
    if metrics_off(value) { Metrics::disabled() } else { Metrics::new() }
}

impl MetricsListener {
    /// Binds `value`, the setting `setting` (e.g. `ATTN_ATTENDANCE_METRICS_ADDR`);
    /// `None` when it is `off`.
    pub async fn bind(setting: &'static str, value: &str) -> anyhow::Result<Option<Self>> {
        if metrics_off(value) {
            return Ok(None);
        }
        let addr = settings::parse_listen_addr(setting, value)?;
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} ({setting})"))?;
        Ok(Some(Self { listener }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves `GET /metrics` until `shutdown` trips. Spawn it: it runs beside
    /// the gRPC server.
    pub async fn serve(self, metrics: Metrics, shutdown: Shutdown) {
        let upkeep = {
            let metrics = metrics.clone();
            let shutdown = shutdown.clone();
            async move {
                let mut tick = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    tokio::select! {
                        _ = tick.tick() => metrics.run_upkeep(),
                        () = shutdown.triggered() => return,
                    }
                }
            }
        };
        tokio::spawn(upkeep);
        let router = Router::new().route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render().await).into_response() }
            }),
        );
        let served =
            axum::serve(self.listener, router).with_graceful_shutdown(async move { shutdown.triggered().await }).await;
        if let Err(err) = served {
            tracing::warn!(error = %err, "the metrics listener stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_off_turns_metrics_off() {
        for value in ["off", "OFF", " off "] {
            assert!(metrics_off(value), "{value:?}");
            assert!(!registry_for(value).is_enabled());
        }
        for value in ["0.0.0.0:9101", "127.0.0.1:0", ""] {
            assert!(!metrics_off(value), "{value:?}");
        }
    }
}
