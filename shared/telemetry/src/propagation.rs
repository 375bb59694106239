//! W3C trace context (`traceparent`) in and out of gRPC metadata, HTTP
//! headers (the face gateway) and a stored string (a queued face job).

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::TraceContextExt as _,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The caller's trace context from request headers (empty if none).
pub fn extract_trace_context(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// Writes the current span's trace context into an outgoing request, as a
/// tonic interceptor does for calls to other ATTN services.
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

struct HttpInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HttpInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::try_from(value.as_str()))
        {
            self.0.insert(key, value);
        }
    }
}

/// The current span's trace context as HTTP headers (`traceparent`), for a
/// call to a service outside ATTN's gRPC, such as the face gateway. Empty
/// when no trace is being recorded.
pub fn trace_context_headers() -> http::HeaderMap {
    let context = tracing::Span::current().context();
    let mut headers = http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HttpInjector(&mut headers));
    });
    headers
}

/// The current span's `traceparent`, to store with work another process
/// finishes later (a face job the sweeper polls). None when no trace is
/// being recorded.
pub fn current_traceparent() -> Option<String> {
    trace_context_headers().get(TRACEPARENT).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// The trace context a stored `traceparent` names (empty if unreadable), to
/// parent the work that finishes what it started.
pub fn context_from_traceparent(traceparent: &str) -> Context {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::try_from(traceparent) {
        headers.insert(TRACEPARENT, value);
    }
    extract_trace_context(&headers)
}

/// Makes `span` part of the trace a stored `traceparent` names (a child of
/// the span that stored it), linked to the span current now (the work that
/// picked it up, such as a sweeper round), so either trace leads to it. An
/// unreadable `traceparent` changes nothing.
pub fn join_stored_trace(span: &tracing::Span, traceparent: &str) {
    let stored = context_from_traceparent(traceparent);
    if !stored.span().span_context().is_valid() {
        return;
    }
    let current = tracing::Span::current().context().span().span_context().clone();
    let _ = span.set_parent(stored);
    if current.is_valid() {
        span.add_link(current);
    }
}

const TRACEPARENT: &str = "traceparent";

#[cfg(test)]
mod tests {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_stored_traceparent_comes_back_as_its_context_and_junk_as_none() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let context = context_from_traceparent(PARENT);
        let span = context.span();
        assert!(span.span_context().is_remote());
        assert_eq!(span.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.span_context().span_id().to_string(), "00f067aa0ba902b7");
        assert!(!context_from_traceparent("not a traceparent").span().span_context().is_valid());
        assert!(!context_from_traceparent("bad\nheader").span().span_context().is_valid());
    }

    #[test]
    fn the_http_injector_writes_the_w3c_header() {
        let context = TraceContextPropagator::new()
            .extract(&std::collections::HashMap::from([(TRACEPARENT.to_owned(), PARENT.to_owned())]));
        let mut headers = http::HeaderMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut HttpInjector(&mut headers));
        assert_eq!(headers.get(TRACEPARENT).unwrap(), PARENT);
    }

    #[test]
    fn outside_a_traced_span_there_is_nothing_to_store() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        assert_eq!(current_traceparent(), None);
        assert!(trace_context_headers().is_empty());
    }
}
