//! Serving gRPC the same way in every ATTN service.
//!
//! The caller binds the listener (port 0 in tests) and builds its routes;
//! [`serve`] adds health and reflection (v1 and v1alpha: grpcurl 1.8 speaks
//! only v1alpha), wraps everything in the shared middleware and runs until
//! shutdown, then drains in-flight calls within the grace period.
//!
//! attendance-service also faces browsers ([`BrowserAccess`]): CORS for
//! grpc-web from other origins, and the browser app's files on the same port.

use std::{path::PathBuf, time::Duration};

use attn_telemetry::{GrpcMetricsLayer, Metrics, RpcTraceLayer, Side};
use http::{HeaderName, HeaderValue, Method};
use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::ServeDir,
};

use crate::{
    AuthLayer, Shutdown, error_details::ErrorDetailsLayer, request_timeout::RequestTimeoutLayer,
    settings::ServerConfig, static_files::StaticFilesLayer,
};

pub struct ServeOptions {
    pub auth: AuthLayer,
    /// Accept HTTP/1.1, for grpc-web straight from browsers.
    pub accept_http1: bool,
    pub server: ServerConfig,
    /// CORS and the browser app's files; off for the internal services.
    pub browsers: BrowserAccess,
    /// The service's own registry: every call is counted in it.
    pub metrics: Metrics,
}

/// What a service that browsers reach directly adds to plain gRPC.
#[derive(Debug, Clone, Default)]
pub struct BrowserAccess {
    /// Origins whose pages may call with grpc-web (CORS). `None`: no CORS
    /// handling at all; an empty list: same-origin only (preflights are
    /// answered, but grant nothing).
    pub cors_origins: Option<Vec<HeaderValue>>,
    /// The browser app's files, served to GET and HEAD requests (`index.html`
    /// at `/`). gRPC and grpc-web are always POSTs, so the two never collide.
    pub web_dir: Option<PathBuf>,
}

/// Request headers a grpc-web client sends (Connect-ES, grpc-web, Envoy's list).
const GRPC_WEB_REQUEST_HEADERS: [&str; 5] =
    ["content-type", "x-grpc-web", "x-user-agent", "authorization", "grpc-timeout"];
/// Response headers a browser must let grpc-web code read.
const GRPC_WEB_RESPONSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// CORS for grpc-web: only the listed origins, only POST, no credentials
/// (tokens travel in `authorization`, never in cookies).
fn cors_layer(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST])
        .allow_headers(GRPC_WEB_REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(GRPC_WEB_RESPONSE_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(24 * 3600))
}

/// Health and reflection services to add to a service's routes.
/// `served`: the names of the services this port serves, so reflection
/// lists those (and health and reflection) rather than all of `attn.v1`.
pub fn standard_routes(routes: Routes, served: &[&str]) -> anyhow::Result<(Routes, HealthReporter)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let advertised = served.iter().copied().chain([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]);
    // The internal package's types only where an internal service is served:
    // asked by name, attendance-service's reflection must not describe them.
    let serves_internal = served.iter().any(|name| name.starts_with("attn.internal."));
    let reflection = || {
        let builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(attn_proto::PUBLIC_FILE_DESCRIPTOR_SET);
        let builder = if serves_internal {
            builder.register_encoded_file_descriptor_set(attn_proto::INTERNAL_FILE_DESCRIPTOR_SET)
        } else {
            builder
        };
        advertised.clone().fold(
            builder
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                // google.rpc.ErrorInfo, BadRequest, RetryInfo: so that grpcurl
                // and other reflection clients decode every error's details.
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let routes = routes.add_service(health).add_service(reflection_v1).add_service(reflection_v1alpha);
    Ok((routes, reporter))
}

/// Runs the server until `shutdown` trips, then marks every service
/// NOT_SERVING and waits up to the grace period for calls to finish.
pub async fn serve(
    routes: Routes,
    health: HealthReporter,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let browser = options.browsers;
    let grace = Duration::from_millis(options.server.shutdown_grace_ms);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let layers = ServiceBuilder::new()
        // Cross-origin grpc-web: preflights are answered here, grants added to answers.
        .option_layer(browser.cors_origins.map(cors_layer))
        // Page loads are files, public, and no RPC: served before tracing and auth see them.
        .layer(StaticFilesLayer { files: browser.web_dir.map(ServeDir::new) })
        // One span and one log line per call, continuing the caller's trace.
        .layer(RpcTraceLayer)
        // grpc-web (HTTP/1.1 from browsers) becomes plain gRPC before anything else looks at it.
        .layer(tonic_web::GrpcWebLayer::new())
        // An ErrorInfo on the few errors tonic, health or reflection make themselves.
        .layer(ErrorDetailsLayer)
        // grpc_server_* counts and latencies, including calls the auth layer refuses.
        .layer(GrpcMetricsLayer::new(options.metrics, Side::Server, attn_domain::access::known_methods()))
        // ATTN_REQUEST_TIMEOUT_MS or the caller's deadline: DEADLINE_EXCEEDED with details.
        .layer(RequestTimeoutLayer::new(Duration::from_millis(options.server.request_timeout_ms)))
        // Who is calling, from where, and may they.
        .layer(options.auth);
    let draining = {
        let shutdown = shutdown.clone();
        let health = health.clone();
        async move {
            shutdown.triggered().await;
            // Load balancers stop sending new calls before we stop accepting them.
            health.set_service_status("", ServingStatus::NotServing).await;
        }
    };
    let server = Server::builder()
        .accept_http1(options.accept_http1)
        .concurrency_limit_per_connection(options.server.concurrency_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .layer(layers)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, draining);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(Into::into),
        () = shutdown.triggered() => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "calls still running after the grace period; stopping anyway"
            );
            Ok(())
        }
    }
}
