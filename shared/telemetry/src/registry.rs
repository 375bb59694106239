//! One service instance's metrics, rendered as Prometheus text.
//!
//! Each App owns a [`Metrics`]: a `metrics-exporter-prometheus` recorder
//! that is never installed as the process's global one, so that the many
//! services a test process runs side by side each count only their own
//! work. Code holds [`Metrics`] (cheap to clone) and registers handles on it
//! with fixed names and label values from fixed sets.
//!
//! Gauges that are cheaper to read than to keep up to date (pool sizes,
//! queue depths) are filled in by collectors just before each scrape.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Buckets of every histogram, in seconds: from a cached token check
/// (sub-millisecond) to a face gateway's timeout and a long sweep.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

const METADATA: Metadata<'static> = Metadata::new("attn", Level::INFO, None);

/// Runs just before a scrape renders, to set gauges read at scrape time.
pub type Collector = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A service instance's own registry. Clones share it.
///
/// A [`Metrics::disabled`] registry (the admin address set to `off`) hands
/// out no-op handles and renders nothing, so that the cost of measuring can
/// itself be measured (attn-bench's `metrics` scenario).
#[derive(Clone)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    collectors: Mutex<Vec<Collector>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder =
            PrometheusBuilder::new().set_buckets(BUCKETS).expect("the bucket list is not empty").build_recorder();
        let handle = recorder.handle();
        Self { inner: Some(Arc::new(Inner { recorder, handle, collectors: Mutex::default() })) }
    }

    /// A registry that records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The counter `name` with these labels (registered on first use).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Counter {
        match &self.inner {
            Some(inner) => inner.recorder.register_counter(&key(name, labels), &METADATA),
            None => Counter::noop(),
        }
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Gauge {
        match &self.inner {
            Some(inner) => inner.recorder.register_gauge(&key(name, labels), &METADATA),
            None => Gauge::noop(),
        }
    }

    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Histogram {
        match &self.inner {
            Some(inner) => inner.recorder.register_histogram(&key(name, labels), &METADATA),
            None => Histogram::noop(),
        }
    }

    /// The `# HELP` line of a family.
    pub fn describe_counter(&self, name: &'static str, help: &'static str) {
        if let Some(inner) = &self.inner {
            inner.recorder.describe_counter(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
    }

    pub fn describe_gauge(&self, name: &'static str, help: &'static str) {
        if let Some(inner) = &self.inner {
            inner.recorder.describe_gauge(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
    }

    pub fn describe_histogram(&self, name: &'static str, help: &'static str) {
        if let Some(inner) = &self.inner {
            inner.recorder.describe_histogram(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
    }

    /// Runs `collect` before every scrape (it should set gauges, quickly).
    pub fn add_collector<F, Fut>(&self, collect: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(inner) = &self.inner {
            let collector: Collector = Arc::new(move || Box::pin(collect()));
            inner.collectors.lock().expect("collectors lock").push(collector);
        }
    }

    /// Runs the collectors, then renders every family as Prometheus text.
    pub async fn render(&self) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let collectors = inner.collectors.lock().expect("collectors lock").clone();
        for collect in collectors {
            collect().await;
        }
        inner.handle.render()
    }

    /// Folds recorded histogram samples into their buckets; run it now and
    /// then, so that samples do not pile up between scrapes.
    pub fn run_upkeep(&self) {
        if let Some(inner) = &self.inner {
            inner.handle.run_upkeep();
        }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels.iter().map(|(key, value)| Label::from_static_parts(key, value)).collect();
    Key::from_parts(name, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_registries_count_apart() {
        let one = Metrics::new();
        let two = Metrics::new();
        one.counter("attn_test_total", &[("result", "hit")]).increment(2);
        two.counter("attn_test_total", &[("result", "hit")]).increment(5);
        assert!(one.render().await.contains("attn_test_total{result=\"hit\"} 2"));
        assert!(two.render().await.contains("attn_test_total{result=\"hit\"} 5"));
    }

    #[tokio::test]
    async fn collectors_set_gauges_before_the_render() {
        let metrics = Metrics::new();
        let gauge = metrics.gauge("attn_test_open", &[]);
        metrics.add_collector(move || {
            let gauge = gauge.clone();
            async move { gauge.set(7.0) }
        });
        assert!(metrics.render().await.contains("attn_test_open 7"));
    }

    #[tokio::test]
    async fn a_disabled_registry_records_and_renders_nothing() {
        let metrics = Metrics::disabled();
        metrics.describe_counter("attn_test_total", "a test");
        metrics.counter("attn_test_total", &[]).increment(3);
        metrics.histogram("attn_test_seconds", &[]).record(0.5);
        let gauge = metrics.gauge("attn_test_open", &[]);
        metrics.add_collector(move || {
            let gauge = gauge.clone();
            async move { gauge.set(7.0) }
        });
        assert!(!metrics.is_enabled());
        assert_eq!(metrics.render().await, "");
    }

    #[tokio::test]
    async fn histograms_render_as_prometheus_histograms() {
        let metrics = Metrics::new();
        metrics.histogram("attn_test_seconds", &[]).record(0.003);
        let text = metrics.render().await;
        assert!(text.contains("attn_test_seconds_bucket{le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("attn_test_seconds_count 1"), "{text}");
    }
}
