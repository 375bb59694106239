//! RPC metrics under the names the gRPC ecosystem's dashboards use
//! (go-grpc-prometheus): `grpc_{server,client}_started_total`,
//! `grpc_{server,client}_handled_total{grpc_service,grpc_method,grpc_code}`
//! and the `grpc_{server,client}_handling_seconds` histogram.
//!
//! A call counts as handled when it ends: an error answered "trailers-only"
//! carries its code in the response headers; any other call (every unary
//! OK, every stream) in the trailers at the end of the body. A body dropped
//! before its trailers (the peer went away) counts as CANCELLED.
//!
//! Service and method labels come only from a fixed list of known methods;
//! anything else is `unknown`, so a caller cannot mint label values.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use ::metrics::{Counter, Histogram};
use http_body::{Body, Frame};
use tower::{Layer, Service};

use crate::Metrics;

const UNKNOWN: &str = "unknown";

/// Which side of a call this layer measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Server => ("grpc_server_started_total", "grpc_server_handled_total", "grpc_server_handling_seconds"),
            Self::Client => ("grpc_client_started_total", "grpc_client_handled_total", "grpc_client_handling_seconds"),
        }
    }
}

/// The `grpc_code` label of a status code, spelled as gRPC's Go
/// implementation spells it (what the ecosystem's dashboards expect).
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The status code in a `grpc-status` header or trailer, if there is one.
fn status_code(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.trim().parse::<i32>().ok()?;
    Some(tonic::Code::from_i32(value))
}

/// Measures every call through it; see the module's documentation.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    inner: Arc<LayerInner>,
}

struct LayerInner {
    metrics: Metrics,
    side: Side,
    /// `/service/method` → its labels and handles.
    known: HashMap<String, Arc<MethodMetrics>>,
    /// Every other path.
    unknown: Arc<MethodMetrics>,
}

/// Every gRPC status code, in order (`Code as usize` indexes it).
const CODES: usize = 17;

/// One method's handles, registered on first use and then reused, so that a
/// call costs no label building or registry lookup (and a method never
/// called has no series).
struct MethodMetrics {
    service: &'static str,
    method: &'static str,
    started: OnceLock<Counter>,
    seconds: OnceLock<Histogram>,
    handled: [OnceLock<Counter>; CODES],
}

impl MethodMetrics {
    fn new((service, method): (&'static str, &'static str)) -> Arc<Self> {
        Arc::new(Self {
            service,
            method,
            started: OnceLock::new(),
            seconds: OnceLock::new(),
            handled: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    fn labels(&self) -> [(&'static str, &'static str); 2] {
        [("grpc_service", self.service), ("grpc_method", self.method)]
    }
}

impl GrpcMetricsLayer {
    /// `known`: every `(service, method)` this side may see; other paths are `unknown`.
    pub fn new(metrics: Metrics, side: Side, known: impl IntoIterator<Item = (&'static str, &'static str)>) -> Self {
        let known = known
            .into_iter()
            .map(|(service, method)| (format!("/{service}/{method}"), MethodMetrics::new((service, method))))
            .collect();
        let (started, handled, seconds) = side.names();
        metrics.describe_counter(started, "RPCs started");
        metrics.describe_counter(handled, "RPCs finished, by gRPC status code");
        metrics.describe_histogram(seconds, "How long RPCs took until their status, in seconds");
        let unknown = MethodMetrics::new((UNKNOWN, UNKNOWN));
        Self { inner: Arc::new(LayerInner { metrics, side, known, unknown }) }
    }
}

impl LayerInner {
    fn method(&self, path: &str) -> &Arc<MethodMetrics> {
        self.known.get(path).unwrap_or(&self.unknown)
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, layer: self.inner.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    layer: Arc<LayerInner>,
}

/// One call's handles; records once, when it ends.
struct Finish {
    layer: Arc<LayerInner>,
    method: Arc<MethodMetrics>,
    started: Instant,
    recorded: bool,
}

impl Finish {
    fn record(&mut self, code: tonic::Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let (layer, method) = (&self.layer, &self.method);
        let (_, handled, seconds) = layer.side.names();
        let counter = method.handled[(code as usize).min(CODES - 1)].get_or_init(|| {
            let [service, name] = method.labels();
            layer.metrics.counter(handled, &[service, name, ("grpc_code", code_label(code))])
        });
        counter.increment(1);
        let histogram = method.seconds.get_or_init(|| layer.metrics.histogram(seconds, &method.labels()));
        histogram.record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // The body went away before its trailers: the peer hung up.
        self.record(tonic::Code::Cancelled);
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcMetricsService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let layer = &self.layer;
        if !layer.metrics.is_enabled() {
            // Metrics off: pass the call through, measuring nothing.
            let future = self.inner.call(request);
            return Box::pin(async move { Ok(future.await?.map(|body| MetricsBody { inner: body, finish: None })) });
        }
        let method = layer.method(request.uri().path()).clone();
        let (started, _, _) = layer.side.names();
        method.started.get_or_init(|| layer.metrics.counter(started, &method.labels())).increment(1);
        let mut finish = Finish { layer: layer.clone(), method, started: Instant::now(), recorded: false };
        let future = self.inner.call(request);
        Box::pin(async move {
            match future.await {
                Ok(response) => {
                    // Trailers-only: the status is in the headers and the call is over.
                    if let Some(code) = status_code(response.headers()) {
                        finish.record(code);
                    }
                    Ok(response.map(|body| MetricsBody { inner: body, finish: Some(finish) }))
                }
                Err(err) => {
                    finish.record(tonic::Code::Unavailable);
                    Err(err)
                }
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its call's status from the trailers.
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        finish: Option<Finish>,
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(finish) = this.finish.as_mut()
                {
                    finish.record(status_code(trailers).unwrap_or(tonic::Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(finish) = this.finish.as_mut() {
                    finish.record(tonic::Code::Unavailable);
                }
            }
            Poll::Ready(None) => {
                // Ended without trailers (nor a trailers-only status): not a gRPC answer.
                if let Some(finish) = this.finish.as_mut() {
                    finish.record(tonic::Code::Unknown);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Default> Default for MetricsBody<B> {
    fn default() -> Self {
        Self { inner: B::default(), finish: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(service, method)` labels a path is counted under.
    fn labels_of(path: &str) -> (&'static str, &'static str) {
        let layer = GrpcMetricsLayer::new(Metrics::new(), Side::Server, [("attn.v1.StudentService", "Attend")]);
        let method = layer.inner.method(path);
        (method.service, method.method)
    }

    #[test]
    fn a_known_path_is_labelled_by_its_service_and_method() {
        assert_eq!(labels_of("/attn.v1.StudentService/Attend"), ("attn.v1.StudentService", "Attend"));
    }

    #[test]
    fn any_other_path_is_unknown() {
        for path in ["/attn.v1.StudentService/attend", "/attn.v1.StudentService/Attend/x", "/", "", "/s1234567/abc"] {
            assert_eq!(labels_of(path), ("unknown", "unknown"), "{path:?}");
        }
    }

    #[tokio::test]
    async fn every_status_code_has_its_own_handled_series() {
        let metrics = Metrics::new();
        let layer = GrpcMetricsLayer::new(metrics.clone(), Side::Server, [("attn.v1.StudentService", "Attend")]);
        for code in [tonic::Code::Ok, tonic::Code::Ok, tonic::Code::Unauthenticated, tonic::Code::Unauthenticated] {
            let method = layer.inner.method("/attn.v1.StudentService/Attend").clone();
            let mut finish = Finish { layer: layer.inner.clone(), method, started: Instant::now(), recorded: false };
            finish.record(code);
            // Recorded once: the drop after the status adds nothing.
            drop(finish);
        }
        let text = metrics.render().await;
        let attend = r#"grpc_service="attn.v1.StudentService",grpc_method="Attend""#;
        assert!(text.contains(&format!(r#"grpc_server_handled_total{{{attend},grpc_code="OK"}} 2"#)), "{text}");
        assert!(
            text.contains(&format!(r#"grpc_server_handled_total{{{attend},grpc_code="Unauthenticated"}} 2"#)),
            "{text}"
        );
        assert!(text.contains(&format!("grpc_server_handling_seconds_count{{{attend}}} 4")), "{text}");
    }

    #[test]
    fn codes_are_spelled_as_the_dashboards_expect() {
        assert_eq!(code_label(tonic::Code::Ok), "OK");
        assert_eq!(code_label(tonic::Code::ResourceExhausted), "ResourceExhausted");
        assert_eq!(code_label(tonic::Code::Cancelled), "Canceled");
    }

    #[test]
    fn the_status_is_read_from_a_grpc_status_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        assert_eq!(status_code(&headers), Some(tonic::Code::ResourceExhausted));
    }
}
