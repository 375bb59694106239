//! Serving gRPC the same way in every ATTN service.
//!
//! The caller binds the listener (port 0 in tests) and builds its routes;
//! [`serve`] adds health and reflection (v1 and v1alpha: grpcurl 1.8 speaks
//! only v1alpha), wraps everything in the shared middleware and runs until
//! shutdown, then drains in-flight calls within the grace period.

use std::time::Duration;

use attn_telemetry::RpcTraceLayer;
use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::ServiceBuilder;

use crate::{AuthLayer, Shutdown, settings::ServerConfig};

pub struct ServeOptions {
    pub auth: AuthLayer,
    /// Accept HTTP/1.1, for grpc-web straight from browsers.
    pub accept_http1: bool,
    pub server: ServerConfig,
}

/// Health and reflection services to add to a service's routes.
pub fn standard_routes(routes: Routes) -> anyhow::Result<(Routes, HealthReporter)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(attn_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(attn_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
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
    let grace = Duration::from_millis(options.server.shutdown_grace_ms);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let layers = ServiceBuilder::new()
        // One span and one log line per call, continuing the caller's trace.
        .layer(RpcTraceLayer)
        // grpc-web (HTTP/1.1 from browsers) becomes plain gRPC before anything else looks at it.
        .layer(tonic_web::GrpcWebLayer::new())
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
        .timeout(Duration::from_millis(options.server.request_timeout_ms))
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
