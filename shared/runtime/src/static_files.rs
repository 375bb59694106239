//! The browser app's files, served on the API's port.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Method, header};
use tonic::body::Body;
use tower::{Layer, Service, ServiceExt as _};
use tower_http::services::ServeDir;

/// Serves GET and HEAD from a directory and sends everything else on.
///
/// tonic's `Routes` can take an axum fallback service, but the server's
/// layers (the auth layer above all) wrap the whole router, fallback
/// included, and would refuse files as unauthenticated calls; so files are
/// split off in front of them instead.
#[derive(Clone)]
pub(crate) struct StaticFilesLayer {
    pub(crate) files: Option<ServeDir>,
}

impl<S> Layer<S> for StaticFilesLayer {
    type Service = StaticFiles<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StaticFiles { inner, files: self.files.clone() }
    }
}

#[derive(Clone)]
pub(crate) struct StaticFiles<S> {
    inner: S,
    files: Option<ServeDir>,
}

impl<S> Service<http::Request<Body>> for StaticFiles<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match &self.files {
            Some(files) if is_page_load(&request) => {
                let files = files.clone();
                Box::pin(async move {
                    let response = files.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
                    Ok(response.map(Body::new))
                })
            }
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

/// A browser fetching a page or an asset; gRPC and grpc-web calls are POSTs.
fn is_page_load<B>(request: &http::Request<B>) -> bool {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
    matches!(*request.method(), Method::GET | Method::HEAD) && !grpc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, content_type: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().method(method).uri("/attn.v1.AuthService/Login");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_plain_gets_and_heads_are_page_loads() {
        assert!(is_page_load(&request(Method::GET, None)));
        assert!(is_page_load(&request(Method::HEAD, Some("text/html"))));
        assert!(!is_page_load(&request(Method::POST, Some("application/grpc-web+proto"))));
        assert!(!is_page_load(&request(Method::POST, Some("application/grpc"))));
        assert!(!is_page_load(&request(Method::GET, Some("application/grpc"))));
        assert!(!is_page_load(&request(Method::OPTIONS, None)));
    }
}
