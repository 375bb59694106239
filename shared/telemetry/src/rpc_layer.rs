//! One span and one log line per RPC.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::extract_trace_context;

/// Wraps a gRPC server: each call runs inside a `rpc` span named after its
/// service and method, parented on the caller's trace context, and logs
/// its gRPC status and latency once the response starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcTraceLayer;

impl<S> Layer<S> for RpcTraceLayer {
    type Service = RpcTraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTraceService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcTraceService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcTraceService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        let _ = span.set_parent(extract_trace_context(request.headers()));
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let result = future.await;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                match &result {
                    Ok(response) => {
                        // Errors come back "trailers-only", with the status in
                        // the headers; a success carries its OK in the trailers.
                        match tonic::Status::from_header_map(response.headers()) {
                            Some(status) if status.code() != tonic::Code::Ok => {
                                let code = status.code() as i32;
                                tracing::Span::current().record("rpc.grpc.status_code", code);
                                tracing::info!(
                                    grpc.code = code,
                                    grpc.message = %status.message(),
                                    elapsed_ms,
                                    "rpc failed"
                                );
                            }
                            _ => {
                                tracing::Span::current().record("rpc.grpc.status_code", 0);
                                tracing::info!(grpc.code = 0, elapsed_ms, "rpc finished");
                            }
                        }
                    }
                    Err(_) => tracing::warn!(elapsed_ms, "rpc broke off before a response"),
                }
                result
            }
            .instrument(span),
        )
    }
}
