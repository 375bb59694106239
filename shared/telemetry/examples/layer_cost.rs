//! What the gRPC metrics layer adds to one call, on and off (a
//! micro-benchmark beside attn-bench's `metrics` scenario):
//!
//!     cargo run --release -p attn-telemetry --example layer_cost
//!
//! A trivial inner service answers trailers-only OK; the same million calls
//! go through the layer with a disabled registry and with a live one.

use attn_telemetry::{GrpcMetricsLayer, Metrics, Side};
use http_body::Body as _;
use std::{convert::Infallible, time::Instant};
use tower::{Layer, Service, ServiceExt};

#[derive(Clone)]
struct Inner;
impl Service<http::Request<()>> for Inner {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let mut r = http::Response::new(String::new());
        r.headers_mut().insert("grpc-status", http::HeaderValue::from_static("0"));
        std::future::ready(Ok(r))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for enabled in [false, true, false, true] {
        let metrics = if enabled { Metrics::new() } else { Metrics::disabled() };
        let layer = GrpcMetricsLayer::new(metrics.clone(), Side::Server, [("attn.v1.StudentService", "Attend")]);
        let mut svc = layer.layer(Inner);
        let n = 1_000_000;
        let t = Instant::now();
        for i in 0..n {
            let req = http::Request::builder().uri("/attn.v1.StudentService/Attend").body(()).unwrap();
            let resp = svc.ready().await.unwrap().call(req).await.unwrap();
            let mut body = std::pin::pin!(resp.into_body());
            let _ = body.as_mut().is_end_stream();
            if i % 100_000 == 0 {
                metrics.run_upkeep();
            }
        }
        println!("enabled={enabled}: {:.0} ns per call", t.elapsed().as_nanos() as f64 / n as f64);
    }
}
