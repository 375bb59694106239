//! `attn-health-probe [ADDR] [SERVICE]`: asks a gRPC server's
//! `grpc.health.v1.Health/Check` and exits 0 only for SERVING.
//!
//! ADDR defaults to 127.0.0.1:50051, SERVICE to "" (the whole server, which
//! ATTN services turn NOT_SERVING when they start draining). Exit codes
//! follow grpc_health_probe: 1 bad arguments, 2 connection failed, 3 the
//! call failed, 4 not serving.

#![forbid(unsafe_code)]

use std::{process::ExitCode, time::Duration};

use tonic::transport::Endpoint;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

const TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:50051".into());
    let service = args.next().unwrap_or_default();
    let endpoint = match Endpoint::from_shared(format!("http://{addr}")) {
        Ok(endpoint) => endpoint.connect_timeout(TIMEOUT).timeout(TIMEOUT),
        Err(error) => {
            eprintln!("attn-health-probe: {addr:?} is not host:port: {error}");
            return ExitCode::from(1);
        }
    };
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(error) => {
            eprintln!("attn-health-probe: cannot connect to {addr}: {error}");
            return ExitCode::from(2);
        }
    };
    let request = HealthCheckRequest { service: service.clone() };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => match response.into_inner().status() {
            ServingStatus::Serving => ExitCode::SUCCESS,
            status => {
                eprintln!("attn-health-probe: {addr} service {service:?} is {}", status.as_str_name());
                ExitCode::from(4)
            }
        },
        Err(status) => {
            eprintln!("attn-health-probe: health check on {addr} failed: {status}");
            ExitCode::from(3)
        }
    }
}
