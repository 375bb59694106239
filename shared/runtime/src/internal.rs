//! Calling another ATTN service: the internal token, the trace context and
//! the deadline ride along on every call.

use std::time::Duration;

use attn_proto::internal::v1::verification_service_client::VerificationServiceClient;
use attn_telemetry::{GrpcMetricsLayer, GrpcMetricsService, Metrics, Side};
use secrecy::{ExposeSecret, SecretString};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

#[derive(Clone)]
pub struct InternalCalls {
    bearer: Option<MetadataValue<tonic::metadata::Ascii>>,
    /// Sent as `grpc-timeout`: the channel's own timeout cuts the call off
    /// here, but only the header tells the other service how long it has.
    timeout: Duration,
}

impl Interceptor for InternalCalls {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(bearer) = &self.bearer {
            request.metadata_mut().insert("authorization", bearer.clone());
        }
        if !request.metadata().contains_key("grpc-timeout") {
            request.set_timeout(self.timeout);
        }
        attn_telemetry::inject_trace_context(request.metadata_mut());
        Ok(request)
    }
}

pub type VerificationClient = VerificationServiceClient<InterceptedService<GrpcMetricsService<Channel>, InternalCalls>>;

/// A client for verification-service. Connects lazily, so a service can
/// start before verification-service does; calls fail UNAVAILABLE until it
/// answers.
pub fn verification_client(
    url: &str,
    internal_token: Option<&SecretString>,
    timeout: Duration,
) -> anyhow::Result<VerificationClient> {
    measured_verification_client(url, internal_token, timeout, &Metrics::new())
}

/// As [`verification_client`], counting every call in `metrics`
/// (`grpc_client_started_total`, `grpc_client_handled_total`,
/// `grpc_client_handling_seconds`).
pub fn measured_verification_client(
    url: &str,
    internal_token: Option<&SecretString>,
    timeout: Duration,
    metrics: &Metrics,
) -> anyhow::Result<VerificationClient> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|err| anyhow::anyhow!("ATTN_VERIFICATION_URL={url:?} is not a URL: {err}"))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let bearer = internal_token
        .map(|token| format!("Bearer {}", token.expose_secret()).parse())
        .transpose()
        .map_err(|_| anyhow::anyhow!("ATTN_INTERNAL_TOKEN must be printable ASCII"))?;
    let measured = tower::Layer::layer(
        &GrpcMetricsLayer::new(metrics.clone(), Side::Client, attn_domain::access::known_methods()),
        endpoint.connect_lazy(),
    );
    Ok(VerificationServiceClient::with_interceptor(measured, InternalCalls { bearer, timeout }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::grpc_timeout;

    #[test]
    fn every_internal_call_tells_the_other_service_its_deadline() {
        let mut calls = InternalCalls { bearer: None, timeout: Duration::from_millis(3000) };
        let request = calls.call(Request::new(())).unwrap();
        assert_eq!(grpc_timeout(request.metadata()), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn a_shorter_deadline_set_by_the_caller_is_kept() {
        let mut calls = InternalCalls { bearer: None, timeout: Duration::from_millis(3000) };
        let mut request = Request::new(());
        request.set_timeout(Duration::from_millis(500));
        let request = calls.call(request).unwrap();
        assert_eq!(grpc_timeout(request.metadata()), Some(Duration::from_millis(500)));
    }
}
