//! `trace_id` and `span_id` on every JSON log line written inside a traced
//! span, so a log line leads to its trace and a trace to its log lines.
//!
//! The ids live in tracing-opentelemetry's span data, which only the
//! subscriber can reach; a formatter is not handed the subscriber, so a tiny
//! layer ([`DispatchHandle::layer`]) keeps a weak handle to it when it is
//! installed, and the formatter ([`WithTraceIds`]) asks through that handle.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::{Event, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::{
    Layer,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// A weak handle to the subscriber, filled in when it is installed.
#[derive(Clone, Default)]
pub(crate) struct DispatchHandle(Arc<OnceLock<WeakDispatch>>);

impl DispatchHandle {
    /// The layer that fills the handle in; it sees no spans or events itself.
    pub(crate) fn layer(&self) -> CaptureDispatch {
        CaptureDispatch(self.clone())
    }
}

pub(crate) struct CaptureDispatch(DispatchHandle);

impl<S: Subscriber> Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.0.0.set(subscriber.downgrade());
    }
}

/// Wraps a JSON event format: lines written inside a span with a valid
/// OpenTelemetry context start with `"trace_id"` and `"span_id"`.
pub(crate) struct WithTraceIds<F> {
    pub(crate) inner: F,
    pub(crate) dispatch: DispatchHandle,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        // Looked up before formatting: tracing-opentelemetry locks the
        // span's data, which the inner format reads too.
        let ids = ctx.event_scope().and_then(|mut scope| scope.next()).and_then(|span| {
            let dispatch = self.dispatch.0.get()?.upgrade()?;
            let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
            Some(context.span().span_context().clone())
        });
        let Some(ids) = ids.filter(SpanContext::is_valid) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_ids(&line, &ids))
    }
}

/// `line` (one JSON object) with the ids as its first two fields.
fn with_ids(line: &str, ids: &SpanContext) -> String {
    match line.strip_prefix('{') {
        Some(rest) => format!(r#"{{"trace_id":"{}","span_id":"{}",{rest}"#, ids.trace_id(), ids.span_id()),
        // Not an object: leave it alone rather than break it.
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::{
        propagation::TextMapPropagator,
        trace::{SpanId, TraceFlags, TraceId, TraceState, TracerProvider as _},
    };
    use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    #[test]
    fn the_ids_become_the_first_fields_of_an_object() {
        let ids = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        assert_eq!(
            with_ids("{\"level\":\"INFO\"}\n", &ids),
            "{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\",\"level\":\"INFO\"}\n"
        );
        assert_eq!(with_ids("not json\n", &ids), "not json\n");
    }

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn json_lines(lines: &Lines) -> Vec<serde_json::Value> {
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect()
    }

    #[test]
    fn lines_inside_a_traced_span_carry_its_trace_and_span_id_and_others_none() {
        let lines = Lines::default();
        let dispatch = DispatchHandle::default();
        let format = tracing_subscriber::fmt::format().json().flatten_event(true);
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(dispatch.layer())
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .event_format(WithTraceIds { inner: format, dispatch: dispatch.clone() })
                    .with_writer(lines.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));

        // A caller's traceparent, as RpcTraceLayer continues it.
        let headers = std::collections::HashMap::from([(
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        let parent = TraceContextPropagator::new().extract(&headers);
        let own_span_id = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("rpc");
            span.set_parent(parent).unwrap();
            let _entered = span.enter();
            tracing::info!(user = "s1", "inside");
            tracing::info_span!("child").in_scope(|| tracing::info!("deeper"));
            span.context().span().span_context().span_id().to_string()
        });

        let lines = json_lines(&lines);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[1]["span_id"], own_span_id.as_str());
        assert_ne!(own_span_id, "00f067aa0ba902b7", "the span is the caller's child, not the caller");
        assert_eq!(lines[1]["user"], "s1", "the event's own fields are kept");
        assert_eq!(lines[2]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(lines[2]["span_id"], own_span_id.as_str(), "a child span's line names the child");
    }
}
