//! Calling another ATTN service: the internal token and the trace context
//! ride along on every call.

use std::time::Duration;

use attn_proto::v1::verification_service_client::VerificationServiceClient;
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
}

impl Interceptor for InternalCalls {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(bearer) = &self.bearer {
            request.metadata_mut().insert("authorization", bearer.clone());
        }
        attn_telemetry::inject_trace_context(request.metadata_mut());
        Ok(request)
    }
}

pub type VerificationClient = VerificationServiceClient<InterceptedService<Channel, InternalCalls>>;

/// A client for verification-service. Connects lazily, so a service can
/// start before verification-service does; calls fail UNAVAILABLE until it
/// answers.
pub fn verification_client(
    url: &str,
    internal_token: Option<&SecretString>,
    timeout: Duration,
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
    Ok(VerificationServiceClient::with_interceptor(endpoint.connect_lazy(), InternalCalls { bearer }))
}
