//! attendance-service's own metrics (the `attn_*` families), in the App's
//! registry. Label values come only from the fixed sets below: never a
//! student number, a session id or free text.

use std::sync::Arc;

use attn_domain::{FailCode, Record, SecurityOption, record::RecordStatus};
use attn_store::{Archive, LiveStore, SignInCache};
use attn_telemetry::Metrics;

use crate::open_sessions::OpenSessions;

pub const CHECKINS: &str = "attn_checkins_total";
pub const RATE_LIMITED: &str = "attn_rate_limited_total";
pub const STREAMS_OPEN: &str = "attn_streams_open";

/// The `outcome` of a check-in's record: `attended`, `pending`, or its
/// fail code's name (`FACE_VERIFICATION_FAILED: <the gateway's words>` is
/// `FACE_VERIFICATION_FAILED`): a fixed set, never free text.
pub fn outcome(record: &Record) -> &'static str {
    match record.status() {
        RecordStatus::Attended => "attended",
        RecordStatus::Pending => "pending",
        RecordStatus::Deleted => "deleted",
        // A check-in never writes these; named anyway, from the fixed set.
        RecordStatus::Excused => "excused",
        RecordStatus::NotCheckedIn | RecordStatus::Absent => "OTHER",
        RecordStatus::Failed => record.fail_code.map_or("OTHER", FailCode::as_str),
    }
}

pub fn security_option_label(option: SecurityOption) -> &'static str {
    match option {
        SecurityOption::Manual => "manual",
        SecurityOption::Network => "network",
        SecurityOption::NetworkAndFace => "network_and_face",
    }
}

/// A check-in answered with a new record.
pub fn check_in(metrics: &Metrics, option: SecurityOption, record: &Record) {
    metrics
        .counter(CHECKINS, &[("security_option", security_option_label(option)), ("outcome", outcome(record))])
        .increment(1);
}

/// A call refused by a rate limit: `limit` is `sign_in`, `check_in` or
/// `password_checks` (the sign-in queue of `ATTN_PASSWORD_CHECK_QUEUE` full).
pub fn rate_limited(metrics: &Metrics, limit: &'static str) {
    metrics.counter(RATE_LIMITED, &[("limit", limit)]).increment(1);
}

/// Counts one open stream of `kind` (`watch_records`, `watch_my_record`,
/// `watch_check_in_code`, `export_course_register`) in `attn_streams_open`
/// until dropped.
pub struct OpenStream(metrics::Gauge);

impl OpenStream {
    pub fn new(metrics: &Metrics, kind: &'static str) -> Self {
        let gauge = metrics.gauge(STREAMS_OPEN, &[("kind", kind)]);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Describes the families and sets up the gauges read at scrape time.
pub fn register(
    metrics: &Metrics,
    open_sessions: Arc<OpenSessions>,
    cache: Option<SignInCache>,
    archive: Archive,
    live: LiveStore,
    max_connections: u32,
) {
    metrics.describe_counter(
        CHECKINS,
        "Check-ins answered with a new record or refused for their check-in code, by security option and outcome",
    );
    metrics.describe_counter(RATE_LIMITED, "Calls refused by a rate limit");
    metrics.describe_gauge(STREAMS_OPEN, "Streams open on this replica, by kind");
    metrics.describe_gauge("attn_sessions_open", "Open sessions in this replica's in-memory index");
    metrics.describe_counter("attn_sign_in_cache_lookups_total", "Token checks, by whether the sign-in cache answered");
    for kind in ["watch_records", "watch_my_record", "watch_check_in_code", "export_course_register"] {
        metrics.gauge(STREAMS_OPEN, &[("kind", kind)]).increment(0.0);
    }
    for limit in ["sign_in", "check_in"] {
        metrics.counter(RATE_LIMITED, &[("limit", limit)]).increment(0);
    }
    let sessions = metrics.gauge("attn_sessions_open", &[]);
    let hits = metrics.counter("attn_sign_in_cache_lookups_total", &[("result", "hit")]);
    let misses = metrics.counter("attn_sign_in_cache_lookups_total", &[("result", "miss")]);
    metrics.add_collector(move || {
        sessions.set(open_sessions.len() as f64);
        if let Some(cache) = &cache {
            let (hit, miss) = cache.lookups();
            hits.absolute(hit);
            misses.absolute(miss);
        }
        async {}
    });
    register_pools(metrics, archive, live, max_connections);
}

/// The PostgreSQL and Redis pools' sizes, read at scrape time (attendance-
/// and sweeper-service both have them).
pub fn register_pools(metrics: &Metrics, archive: Archive, live: LiveStore, max_connections: u32) {
    attn_store::pool_metrics::register(metrics, archive, live, max_connections);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fail_code_is_the_outcome_never_free_text() {
        assert_eq!(outcome(&Record::failed("s1234567", "A Student", FailCode::WifiFailed)), "WIFI_FAILED");
        let pending = Record::pending_face_check("s1234567", "A Student", "job-1");
        assert_eq!(outcome(&pending.face_failed("the selfie does not match s1234567")), "FACE_VERIFICATION_FAILED");
        assert_eq!(outcome(&pending.failed_by_teacher("WIFI_FAILED: s1234567 spoofed")), "TEACHER_DECISION");
        let wrong_code = Record::failed("s1234567", "A Student", FailCode::CheckInCodeInvalid);
        assert_eq!(outcome(&wrong_code), "CHECK_IN_CODE_INVALID");
    }

    #[test]
    fn attended_and_pending_records_are_named_so() {
        assert_eq!(outcome(&Record::attended("s1", "A", 1)), "attended");
        assert_eq!(outcome(&Record::pending_face_check("s1", "A", "job-1")), "pending");
    }
}
