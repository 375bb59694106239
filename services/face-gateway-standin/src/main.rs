//! The stand-in face gateway, for development and tests. It matches no
//! faces: see the crate docs for how it picks each job's outcome.

use face_gateway_standin::{Config, serve};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let _telemetry = attn_telemetry::init("face-gateway-standin", config.log_format)?;
    let listener = TcpListener::bind(config.listen_addr()?).await?;
    tracing::warn!(
        address = %listener.local_addr()?,
        "face-gateway-STAND-IN listening: outcomes come from student numbers, no face is matched"
    );
    serve(listener, config, stop_signal()).await
}

/// SIGTERM (containers) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
