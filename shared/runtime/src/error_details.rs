//! Details for the errors ATTN's handlers do not make.
//!
//! Every error from ATTN's own code carries a `google.rpc.ErrorInfo` (see
//! [`crate::error`]). The gRPC machinery makes a few errors of its own
//! before or around a handler: a request that does not decode, a health
//! check of a service this port does not serve, a method reflection does
//! not know. This layer gives those an `ErrorInfo` too, with the code's own
//! name as the reason ([`Reason::generic`]), so a client can rely on there
//! always being one. It looks only at trailers-only answers (the error in
//! the response headers), which is how those errors are sent; an answer
//! that already has details is left alone, and a successful one costs one
//! header lookup.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::reason::{ERROR_DOMAIN, Reason};

const DETAILS_HEADER: &str = "grpc-status-details-bin";

#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorDetailsLayer;

impl<S> Layer<S> for ErrorDetailsLayer {
    type Service = ErrorDetailsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorDetailsService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct ErrorDetailsService<S> {
    inner: S,
}

impl<S, B, Answer> Service<http::Request<B>> for ErrorDetailsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<Answer>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            add_missing_details(response.headers_mut());
            Ok(response)
        })
    }
}

/// Adds an `ErrorInfo` to a trailers-only error that has no details.
fn add_missing_details(headers: &mut http::HeaderMap) {
    let failed = headers.get("grpc-status").is_some_and(|code| code.as_bytes() != b"0");
    if !failed || headers.contains_key(DETAILS_HEADER) {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(reason) = Reason::generic(status.code()) else {
        return;
    };
    let details = ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, HashMap::new());
    let with_details = Status::with_error_details(status.code(), status.message(), details);
    if with_details.add_header(headers).is_err() {
        tracing::warn!(code = ?status.code(), "could not add error details to an answer");
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, body::Body};
    use tower::ServiceExt as _;

    use super::*;

    async fn through_layer(answer: http::Response<Body>) -> http::Response<Body> {
        let answer = std::sync::Mutex::new(Some(answer));
        let inner = tower::service_fn(move |_: http::Request<()>| {
            let answer = answer.lock().unwrap().take().unwrap();
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
        ErrorDetailsLayer.layer(inner).oneshot(http::Request::new(())).await.unwrap()
    }

    #[tokio::test]
    async fn an_error_the_machinery_made_gets_its_code_as_the_reason() {
        let response = through_layer(Status::not_found("service not registered").into_http()).await;
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "service not registered");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!((info.reason.as_str(), info.domain.as_str()), ("NOT_FOUND", "attn.v1"));
    }

    #[tokio::test]
    async fn an_error_with_details_is_left_as_it_is() {
        let ours = Status::from(crate::ApiError::new(Reason::SessionEnded, "this attendance session has ended"));
        let response = through_layer(ours.into_http()).await;
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.get_details_error_info().unwrap().reason, "SESSION_ENDED");
    }

    #[tokio::test]
    async fn an_answer_without_an_error_is_left_alone() {
        let response = through_layer(http::Response::new(Body::empty())).await;
        assert!(response.headers().is_empty());
        let mut ok = http::HeaderMap::new();
        ok.insert("grpc-status", "0".parse().unwrap());
        add_missing_details(&mut ok);
        assert!(!ok.contains_key(DETAILS_HEADER));
    }
}
