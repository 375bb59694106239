//! The one place where what went wrong becomes a gRPC status.
//!
//! Handlers return [`ApiError`]; `From<ApiError> for Status` picks the code.
//! Messages are plain English for the caller. Internal causes are logged
//! here with their detail and never sent.

use attn_domain::{AttendConflict, Invalid};
use attn_store::StoreError;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: the message names the field.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many attempts, or too busy to take the call now: try again after
    /// the duration (sent as `google.rpc.RetryInfo`).
    #[error("{message}")]
    RateLimited { message: String, retry_after: std::time::Duration },
    /// A bound on what one caller may hold (open streams): no waiting helps.
    #[error("{0}")]
    TooMany(String),
    /// A dependency (Redis, PostgreSQL, another service) is down.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault; the detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::RateLimited { message: message.into(), retry_after }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn precondition(why: impl Into<String>) -> Self {
        Self::FailedPrecondition(why.into())
    }
}

impl From<AttendConflict> for ApiError {
    fn from(conflict: AttendConflict) -> Self {
        match conflict {
            AttendConflict::AlreadyAttended | AttendConflict::AlreadyPending => {
                Self::AlreadyExists(conflict.message().into())
            }
            AttendConflict::FailedByTeacher | AttendConflict::Deleted => {
                Self::FailedPrecondition(conflict.message().into())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable { store, detail } => {
                tracing::warn!(%store, %detail, "store unavailable");
                Self::Unavailable(format!("{store} is unavailable right now; try again shortly"))
            }
            other => Self::Internal(other.to_string()),
        }
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

/// A failed call to another ATTN service.
impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        match status.code() {
            _ if is_transport_failure(&status) => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "dependency unreachable");
                Self::Unavailable("a verification dependency is unavailable right now; try again shortly".into())
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "dependency unavailable");
                Self::Unavailable("a verification dependency is unavailable right now; try again shortly".into())
            }
            Code::InvalidArgument => Self::Invalid(Invalid::new("request", status.message().to_owned())),
            Code::FailedPrecondition => Self::FailedPrecondition(status.message().to_owned()),
            _ => Self::Internal(format!("downstream call failed: {status}")),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Invalid(invalid) => Status::invalid_argument(invalid.to_string()),
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::PermissionDenied(m) => Status::permission_denied(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::RateLimited { message, retry_after } => {
                use tonic_types::{ErrorDetails, StatusExt};
                // Whole seconds, at least one, in the message for people; exact in RetryInfo for apps.
                let seconds = retry_after.as_secs_f64().ceil().max(1.0);
                Status::with_error_details(
                    Code::ResourceExhausted,
                    format!("{message}; try again in {seconds} s"),
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            ApiError::TooMany(m) => Status::resource_exhausted(m),
            ApiError::Unavailable(m) => Status::unavailable(m),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Status::internal("something went wrong on our side; it has been logged")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_error_kind_has_its_precise_code() {
        let cases = [
            (ApiError::Invalid(Invalid::new("lesson_name", "is required")), Code::InvalidArgument),
            (ApiError::Unauthenticated("x".into()), Code::Unauthenticated),
            (ApiError::PermissionDenied("x".into()), Code::PermissionDenied),
            (ApiError::NotFound("x".into()), Code::NotFound),
            (ApiError::AlreadyExists("x".into()), Code::AlreadyExists),
            (ApiError::FailedPrecondition("x".into()), Code::FailedPrecondition),
            (ApiError::rate_limited("x", std::time::Duration::from_secs(1)), Code::ResourceExhausted),
            (ApiError::TooMany("x".into()), Code::ResourceExhausted),
            (ApiError::Unavailable("x".into()), Code::Unavailable),
            (ApiError::Internal("x".into()), Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }

    #[test]
    fn invalid_input_names_the_field() {
        let status = Status::from(ApiError::from(Invalid::new("lesson_name", "is required")));
        assert_eq!(status.message(), "lesson_name: is required");
    }

    #[test]
    fn a_store_outage_is_unavailable_and_its_detail_is_not_sent() {
        let status = Status::from(ApiError::from(StoreError::Unavailable {
            store: "Redis",
            detail: "connection refused at 10.0.0.7:6379".into(),
        }));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.7"));
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
    fn a_rate_limit_says_when_to_try_again_in_words_and_in_retry_info() {
        use tonic_types::StatusExt;
        let status = Status::from(ApiError::rate_limited("too many sign-in attempts", Duration::from_millis(1500)));
        assert_eq!(status.message(), "too many sign-in attempts; try again in 2 s");
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn internal_details_are_not_sent() {
        let status = Status::from(ApiError::Internal("secret stack trace".into()));
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn attend_conflicts_map_as_the_design_says() {
        assert_eq!(Status::from(ApiError::from(AttendConflict::AlreadyAttended)).code(), Code::AlreadyExists);
        assert_eq!(Status::from(ApiError::from(AttendConflict::AlreadyPending)).code(), Code::AlreadyExists);
        assert_eq!(Status::from(ApiError::from(AttendConflict::FailedByTeacher)).code(), Code::FailedPrecondition);
    }
}
