//! The one place where what went wrong becomes a gRPC status.
//!
//! Handlers return [`ApiError`]: a [`Reason`] (which picks the gRPC code) and
//! a plain-English message for people. `From<ApiError> for Status` sends
//! both, with `google.rpc` details for programs: an `ErrorInfo` (the
//! reason's stable code, domain [`ERROR_DOMAIN`], metadata such as the
//! attendance id, never a token), a `BadRequest` naming every bad field, and
//! a `RetryInfo` when waiting and trying again helps. Internal causes are
//! logged here with their detail and never sent.

use std::{collections::HashMap, time::Duration};

use attn_domain::{AttendConflict, Invalid, Invalids};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

pub use crate::reason::{ERROR_DOMAIN, Reason, reason_of};

/// Why a call failed: for the caller (reason, message, details) and, for an
/// internal error, for the logs (the message is the detail, never sent).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    reason: Reason,
    message: String,
    /// `ErrorInfo.metadata`: short facts a client may use (ids, limits).
    metadata: Vec<(&'static str, String)>,
    /// One per bad field, for INVALID_ARGUMENT.
    bad_fields: Vec<FieldViolation>,
    /// Overrides the reason's [`Reason::default_retry_delay`]; said in the message too.
    retry_after: Option<Duration>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A failure for `reason`, explained in `message` (plain English, naming
    /// the field or rule). For bad input use [`Invalid`] instead, which
    /// names the field.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), metadata: Vec::new(), bad_fields: Vec::new(), retry_after: None }
    }

    /// Too many attempts, or too busy to take the call now: try again after
    /// `retry_after` (said in the message and sent as `RetryInfo`).
    pub fn rate_limited(reason: Reason, message: impl Into<String>, retry_after: Duration) -> Self {
        Self { retry_after: Some(retry_after), ..Self::new(reason, message) }
    }

    /// A dependency (Redis, PostgreSQL, another service) is down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Reason::DependencyUnavailable, message)
    }

    /// Our fault: `detail` is logged, not sent.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(Reason::Internal, detail)
    }

    /// Adds `key: value` to the `ErrorInfo` metadata. Never a secret.
    pub fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
        self
    }

    pub fn reason(&self) -> Reason {
        self.reason
    }

    pub fn code(&self) -> Code {
        self.reason.code()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// When the caller should try again, if a retry helps.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.or(self.reason.default_retry_delay())
    }

    /// The fields a BadRequest names, in order.
    pub fn bad_fields(&self) -> impl Iterator<Item = &str> {
        self.bad_fields.iter().map(|v| v.field.as_str())
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::from(Invalids::from(invalid))
    }
}

impl From<Invalids> for ApiError {
    fn from(invalids: Invalids) -> Self {
        let bad_fields = invalids.iter().map(|i| FieldViolation::new(i.field, i.message.clone())).collect();
        Self { bad_fields, ..Self::new(Reason::InvalidArgument, invalids.to_string()) }
    }
}

impl From<AttendConflict> for ApiError {
    fn from(conflict: AttendConflict) -> Self {
        let reason = match conflict {
            AttendConflict::AlreadyAttended => Reason::AlreadyCheckedIn,
            AttendConflict::AlreadyPending => Reason::AlreadyPending,
            AttendConflict::FailedByTeacher => Reason::FailedByTeacher,
            AttendConflict::Deleted => Reason::RecordDeleted,
            AttendConflict::Excused => Reason::Excused,
        };
        Self::new(reason, conflict.message())
    }
}

/// Was this status made on our side of the wire from a broken connection
/// (refused, reset, closed mid-call), rather than sent by the other service?
/// tonic gives those whatever code fits the error (often UNKNOWN "transport
/// error"), but to our caller they all mean the dependency is unreachable.
fn is_transport_failure(status: &Status) -> bool {
    let mut cause = std::error::Error::source(status);
    while let Some(err) = cause {
        if err.is::<tonic::transport::Error>() || err.is::<std::io::Error>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A failed call to another ATTN service. Its `ErrorInfo` reason and
/// `BadRequest` fields are kept when they fit the status it came with.
impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        let dependency_down =
            || Self::unavailable("a verification dependency is unavailable right now; try again shortly");
        let their_reason = reason_of(&status);
        match status.code() {
            _ if is_transport_failure(&status) => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "dependency unreachable");
                dependency_down()
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "dependency unavailable");
                dependency_down()
            }
            Code::InvalidArgument => {
                let mut bad_fields = status.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
                if bad_fields.is_empty() {
                    bad_fields.push(FieldViolation::new("request", status.message()));
                }
                Self { bad_fields, ..Self::new(Reason::InvalidArgument, status.message()) }
            }
            Code::FailedPrecondition | Code::NotFound | Code::AlreadyExists if their_reason.is_some() => {
                Self::new(their_reason.expect("checked"), status.message())
            }
            _ => Self::internal(format!("downstream call failed: {status}")),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let ApiError { reason, message, metadata, bad_fields, retry_after } = err;
        let message = match (reason, retry_after) {
            (Reason::Internal, _) => {
                tracing::error!(detail = %message, "internal error");
                "something went wrong on our side; it has been logged".to_owned()
            }
            (_, Some(delay)) => {
                // Whole seconds, at least one, in the message for people; exact in RetryInfo for apps.
                let seconds = delay.as_secs_f64().ceil().max(1.0);
                format!("{message}; try again in {seconds} s")
            }
            _ => message,
        };
        let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut details = ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, metadata);
        if !bad_fields.is_empty() {
            details.set_bad_request(bad_fields);
        }
        if let Some(delay) = retry_after.or(reason.default_retry_delay()) {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(reason.code(), message, details)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_types::StatusExt;

    use super::*;

    /// One error of every kind a handler makes, with its reason.
    fn one_of_each() -> Vec<ApiError> {
        Reason::ALL
            .iter()
            .map(|&reason| match reason {
                Reason::InvalidArgument => ApiError::from(Invalid::new("lesson_name", "is required")),
                Reason::RateLimited | Reason::Overloaded => {
                    ApiError::rate_limited(reason, "too many", Duration::from_millis(1500))
                }
                Reason::Internal => ApiError::internal("secret stack trace"),
                _ => ApiError::new(reason, "x"),
            })
            .collect()
    }

    #[test]
    fn every_error_carries_its_reason_in_error_info_under_one_domain() {
        for err in one_of_each() {
            let reason = err.reason();
            let status = Status::from(err);
            assert_eq!(status.code(), reason.code(), "{reason}");
            let info = status.get_details_error_info().unwrap_or_else(|| panic!("{reason}: no ErrorInfo"));
            assert_eq!(info.reason, reason.as_str());
            assert_eq!(info.domain, "attn.v1");
        }
    }

    #[test]
    fn only_bad_input_carries_a_bad_request() {
        for err in one_of_each() {
            let reason = err.reason();
            let status = Status::from(err);
            assert_eq!(status.get_details_bad_request().is_some(), reason == Reason::InvalidArgument, "{reason}");
        }
    }

    #[test]
    fn a_retry_is_offered_for_rate_limits_and_unavailable_only() {
        for err in one_of_each() {
            let reason = err.reason();
            let status = Status::from(err);
            let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
            let expected = match reason.code() {
                Code::Unavailable => Some(Duration::from_secs(1)),
                _ if matches!(reason, Reason::RateLimited | Reason::Overloaded) => Some(Duration::from_millis(1500)),
                _ => None,
            };
            assert_eq!(retry, expected, "{reason}");
        }
    }

    #[test]
    fn invalid_input_names_the_field_in_words_and_in_bad_request() {
        let status = Status::from(ApiError::from(Invalid::new("lesson_name", "is required")));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "lesson_name: is required");
        let bad = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "lesson_name");
        assert_eq!(bad.field_violations[0].description, "is required");
    }

    #[test]
    fn several_bad_fields_are_one_violation_each() {
        let mut bad = Invalids::new();
        bad.push(Invalid::new("lesson_name", "is required"));
        bad.push(Invalid::new("duration", "must be positive"));
        let status = Status::from(ApiError::from(bad));
        assert_eq!(status.message(), "lesson_name: is required; duration: must be positive");
        let fields: Vec<String> =
            status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["lesson_name", "duration"]);
    }

    #[test]
    fn metadata_rides_in_error_info() {
        let id = "0190c0de-0000-7000-8000-000000000000";
        let status = Status::from(ApiError::new(Reason::SessionNotFound, "no such session").with("attendance_id", id));
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.metadata.get("attendance_id").map(String::as_str), Some(id));
    }

    #[test]
    fn a_dependency_connection_broken_mid_call_is_unavailable() {
        // What tonic's client makes of a connection closed under a call.
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream closed because of a broken pipe");
        let status = Status::from_error(Box::new(broken));
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(Status::from(ApiError::from(status)).code(), Code::Unavailable);
        // An UNKNOWN the other service itself sent is still our problem.
        assert_eq!(Status::from(ApiError::from(Status::unknown("boom"))).code(), Code::Internal);
    }

    #[test]
    fn a_dependency_s_reason_and_bad_fields_are_kept() {
        let theirs = Status::from(ApiError::new(Reason::ReferenceImageNotFound, "REFERENCE_IMAGE_NOT_FOUND: no photo"));
        assert_eq!(ApiError::from(theirs).reason(), Reason::ReferenceImageNotFound);
        let theirs = Status::from(ApiError::from(Invalid::new("selfie", "must be a JPEG or PNG image")));
        let ours = ApiError::from(theirs);
        assert_eq!(ours.bad_fields().collect::<Vec<_>>(), ["selfie"]);
        // Without details: the whole request is named.
        let ours = ApiError::from(Status::invalid_argument("selfie: too big"));
        assert_eq!(ours.bad_fields().collect::<Vec<_>>(), ["request"]);
        // A reason that does not fit the code is not believed.
        let odd = Status::with_error_details(
            Code::NotFound,
            "odd",
            ErrorDetails::with_error_info("SESSION_ENDED", ERROR_DOMAIN, HashMap::new()),
        );
        assert_eq!(ApiError::from(odd).reason(), Reason::Internal);
    }

    #[test]
    fn a_rate_limit_says_when_to_try_again_in_words_and_in_retry_info() {
        let status = Status::from(ApiError::rate_limited(
            Reason::RateLimited,
            "too many sign-in attempts",
            Duration::from_millis(1500),
        ));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "too many sign-in attempts; try again in 2 s");
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn internal_details_are_not_sent() {
        let status = Status::from(ApiError::internal("secret stack trace"));
        assert!(!status.message().contains("secret"));
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "INTERNAL");
        assert!(info.metadata.is_empty());
    }

    #[test]
    fn attend_conflicts_map_as_the_design_says() {
        let reason_of = |conflict| Status::from(ApiError::from(conflict)).get_details_error_info().unwrap().reason;
        let code_of = |conflict| Status::from(ApiError::from(conflict)).code();
        assert_eq!(code_of(AttendConflict::AlreadyAttended), Code::AlreadyExists);
        assert_eq!(reason_of(AttendConflict::AlreadyAttended), "ALREADY_CHECKED_IN");
        assert_eq!(code_of(AttendConflict::AlreadyPending), Code::AlreadyExists);
        assert_eq!(reason_of(AttendConflict::AlreadyPending), "ALREADY_PENDING");
        assert_eq!(code_of(AttendConflict::FailedByTeacher), Code::FailedPrecondition);
        assert_eq!(reason_of(AttendConflict::FailedByTeacher), "FAILED_BY_TEACHER");
        assert_eq!(reason_of(AttendConflict::Deleted), "RECORD_DELETED");
    }
}
