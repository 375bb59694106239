//! The server's limit on a call: `ATTN_REQUEST_TIMEOUT_MS`, or the caller's
//! own `grpc-timeout` if that is sooner.
//!
//! tonic's `Server::timeout` does the same, but answers from outside every
//! layer ATTN adds, with CANCELLED and no details. This layer sits inside
//! the metrics layer (so the call is counted with its code) and answers
//! DEADLINE_EXCEEDED with an `ErrorInfo` (`REQUEST_TIMED_OUT`), like any
//! other error. It bounds the time to the answer's headers: a stream, once
//! started, is not cut off (its own rules end it).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Status, body::Body};
use tower::{Layer, Service};

use crate::{ApiError, Reason, deadline::grpc_timeout_header};

#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer {
    limit: Duration,
}

impl RequestTimeoutLayer {
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout { inner, limit: self.limit }
    }
}

#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, B> Service<http::Request<B>> for RequestTimeout<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let limit = grpc_timeout_header(request.headers()).map_or(self.limit, |asked| asked.min(self.limit));
        let answer = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, answer).await {
                Ok(answer) => answer,
                Err(_) => Ok(timed_out(limit).into_http()),
            }
        })
    }
}

fn timed_out(limit: Duration) -> Status {
    let millis = limit.as_millis();
    ApiError::new(Reason::RequestTimedOut, format!("the call did not finish within its {millis} ms"))
        .with("timeout_ms", millis)
        .into()
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;
    use tower::ServiceExt as _;

    use super::*;

    /// A service that answers after `delay`.
    fn slow(
        delay: Duration,
    ) -> impl Service<http::Request<()>, Response = http::Response<Body>, Error = std::convert::Infallible, Future: Send>
    {
        tower::service_fn(move |_: http::Request<()>| async move {
            tokio::time::sleep(delay).await;
            Ok(http::Response::new(Body::empty()))
        })
    }

    fn request(grpc_timeout: Option<&str>) -> http::Request<()> {
        let mut request = http::Request::new(());
        if let Some(timeout) = grpc_timeout {
            request.headers_mut().insert("grpc-timeout", timeout.parse().unwrap());
        }
        request
    }

    fn status_of(response: &http::Response<Body>) -> Option<Status> {
        Status::from_header_map(response.headers())
    }

    // Real time, with margins no stall can cross: the slow service would
    // take a minute, so an answer within seconds can only be the timeout's.
    const NEVER: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_call_past_the_limit_is_deadline_exceeded_with_its_reason() {
        let layer = RequestTimeoutLayer::new(Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        let response = layer.layer(slow(NEVER)).oneshot(request(None)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200), "not before the limit");
        assert!(started.elapsed() < NEVER / 2, "cut off");
        let status = status_of(&response).expect("an error");
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(status.message(), "the call did not finish within its 200 ms");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "REQUEST_TIMED_OUT");
        assert_eq!(info.metadata.get("timeout_ms").map(String::as_str), Some("200"));
    }

    #[tokio::test]
    async fn the_callers_shorter_deadline_wins_and_a_longer_one_does_not() {
        let layer = RequestTimeoutLayer::new(Duration::from_secs(30));
        let response = layer.layer(slow(NEVER)).oneshot(request(Some("50m"))).await.unwrap();
        let status = status_of(&response).unwrap();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(status.message(), "the call did not finish within its 50 ms", "the caller's 50 ms");

        let layer = RequestTimeoutLayer::new(Duration::from_millis(50));
        let response = layer.layer(slow(NEVER)).oneshot(request(Some("10S"))).await.unwrap();
        let status = status_of(&response).unwrap();
        assert_eq!(status.message(), "the call did not finish within its 50 ms", "the server's 50 ms still holds");
    }

    #[tokio::test]
    async fn a_call_in_time_is_answered_as_it_was() {
        let layer = RequestTimeoutLayer::new(NEVER);
        let response = layer.layer(slow(Duration::from_millis(10))).oneshot(request(None)).await.unwrap();
        assert!(status_of(&response).is_none(), "no error added");
    }
}
