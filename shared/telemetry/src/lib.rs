//! Logs and traces for every ATTN service.
//!
//! [`init`] sets up one subscriber: structured logs (JSON or human) filtered
//! by `ATTN_LOG`/`RUST_LOG`, and OpenTelemetry export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. [`RpcTraceLayer`] gives every RPC
//! one span, continuing the caller's W3C trace context, and one log line
//! when it finishes; [`inject_trace_context`] carries the context on to the
//! next service, so one check-in is one trace; [`trace_context_headers`]
//! does the same for HTTP calls (the face gateway), and
//! [`current_traceparent`] / [`context_from_traceparent`] carry it through
//! a queued face job to the sweeper that finishes it. JSON log lines written
//! inside a traced span carry its `trace_id` and `span_id`.

mod grpc_metrics;
mod log_ids;
mod propagation;
mod registry;
mod rpc_layer;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

pub use grpc_metrics::{GrpcMetricsLayer, GrpcMetricsService, MetricsBody, Side, code_label};
pub use propagation::{
    context_from_traceparent, current_traceparent, extract_trace_context, inject_trace_context, join_stored_trace,
    trace_context_headers,
};
pub use registry::{Collector, Metrics};
pub use rpc_layer::{RpcTraceLayer, RpcTraceService};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    #[default]
    Json,
    /// Readable lines for a terminal.
    Pretty,
}

/// Flushes pending spans when dropped; keep it alive in `main`.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("could not flush traces: {err}");
        }
    }
}

/// Installs the global subscriber for a service. Call once, first thing in `main`.
pub fn init(service_name: &'static str, format: LogFormat) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_env("ATTN_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let dispatch = log_ids::DispatchHandle::default();
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .event_format(log_ids::WithTraceIds {
                inner: tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
                dispatch: dispatch.clone(),
            })
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .with_context(|| format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name(service_name).build())
                .build();
            opentelemetry::global::set_tracer_provider(provider.clone());
            Some(provider)
        }
        _ => None,
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name)));

    tracing_subscriber::registry()
        .with(dispatch.layer())
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .context("a tracing subscriber was already installed")?;
    Ok(TelemetryGuard { provider })
}
