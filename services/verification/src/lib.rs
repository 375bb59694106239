//! verification-service: is a check-in coming from the classroom network,
//! and (through the external face gateway) is it the right person?
//!
//! Internal: attendance-service and sweeper-service call it; clients don't.

mod config;
mod face_check;
pub mod gateway;
mod service;

use std::net::SocketAddr;

use attn_domain::client_address::TrustedProxies;
use attn_proto::internal::v1::verification_service_server::VerificationServiceServer;
use attn_runtime::{
    AuthLayer, Shutdown,
    metrics_server::{self, MetricsListener},
    serve::{BrowserAccess, ServeOptions, serve, standard_routes},
    settings,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;
pub use face_check::FaceChecks;
pub use service::Verifier;

use crate::gateway::FaceGateway;

/// A bound, ready-to-run verification-service.
pub struct App {
    listener: TcpListener,
    /// `None` when metrics are off.
    metrics_listener: Option<MetricsListener>,
    metrics: attn_telemetry::Metrics,
    config: Config,
    verifier: Verifier,
}

impl App {
    /// Checks the settings and binds the port (use port 0 in tests and read
    /// [`App::local_addr`]).
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        config.internal_token = config.server.internal_token(config.internal_token.as_ref())?;
        let gateway = config.face_gateway()?.map(FaceGateway::new).transpose()?;
        if let Some(gateway) = &gateway {
            tracing::info!(gateway = %gateway.base_url().origin().ascii_serialization(), "face checks go to the face gateway");
        }
        let request_timeout = std::time::Duration::from_millis(config.server.request_timeout_ms);
        let metrics = metrics_server::registry_for(&config.verification_metrics_addr);
        let face_checks = FaceChecks::new(gateway).measured(metrics.clone());
        let verifier = Verifier::new(config.campus_networks()?, face_checks, request_timeout);
        let addr = settings::parse_listen_addr("ATTN_VERIFICATION_ADDR", &config.verification_addr)?;
        let listener = TcpListener::bind(addr).await?;
        let metrics_listener =
            MetricsListener::bind("ATTN_VERIFICATION_METRICS_ADDR", &config.verification_metrics_addr).await?;
        Ok(Self { listener, metrics_listener, metrics, config, verifier })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served (ATTN_VERIFICATION_METRICS_ADDR); `None` when it is `off`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(MetricsListener::local_addr)
    }

    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        // A face check carries two images at the limit; tonic's default
        // 4 MiB cap would refuse it before the size check could name a field.
        let max_message = self.config.face_max_image_bytes.saturating_mul(2).saturating_add(64 * 1024);
        let service =
            VerificationServiceServer::new(self.verifier).max_decoding_message_size(max_message.max(4 * 1024 * 1024));
        let routes = Routes::new(service);
        let (routes, health) =
            standard_routes(routes, &[attn_proto::internal::v1::verification_service_server::SERVICE_NAME])?;
        let options = ServeOptions {
            auth: AuthLayer::new(None, self.config.internal_token.clone(), TrustedProxies::none()),
            accept_http1: false,
            server: self.config.server.clone(),
            browsers: BrowserAccess::default(),
            metrics: self.metrics.clone(),
        };
        if let Some(listener) = self.metrics_listener {
            tokio::spawn(listener.serve(self.metrics, shutdown.clone()));
        }
        serve(routes, health, self.listener, options, shutdown).await
    }
}
