//! Everything that can go wrong talking to the face gateway or fetching a
//! reference photo, and — in one place — the gRPC status each becomes.
//!
//! The codes, for the callers (attendance-service at submit, the sweeper
//! while polling):
//! - `UNAVAILABLE`: transient; asking again later may work. The gateway was
//!   unreachable, timed out, answered 5xx after every retry, the caller's
//!   deadline left no time to finish, or it sent an
//!   answer ATTN cannot read (not JSON, a missing field, an unknown status,
//!   too large): a broken answer says nothing about the student.
//! - `FAILED_PRECONDITION`: the gateway refused this job (HTTP 4xx), or there
//!   is no reference photo (`REFERENCE_IMAGE_NOT_FOUND…`, also when its
//!   address is not allowed), or no gateway is configured. Asking again will
//!   not help.
//! - `NOT_FOUND`: the gateway does not know the job id.
//! - `INVALID_ARGUMENT`: a downloaded reference photo is too large.

use attn_domain::Invalid;
use attn_runtime::{ApiError, Reason};

use super::PhotoRefused;

/// Who answered (or failed to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    FaceGateway,
    PhotoHost,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::FaceGateway => "the face gateway",
            Self::PhotoHost => "the reference photo's host",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no face gateway is configured")]
    NotConfigured,
    #[error("{upstream} is unreachable after {attempts} attempt(s): {detail}")]
    Unreachable { upstream: Upstream, attempts: u32, detail: String },
    #[error("{upstream} did not answer in time")]
    TimedOut { upstream: Upstream },
    #[error("{upstream} answered HTTP {status} after {attempts} attempt(s)")]
    ServerError { upstream: Upstream, status: u16, attempts: u32 },
    #[error("{upstream} sent more than {limit} bytes")]
    TooLarge { upstream: Upstream, limit: usize },
    #[error("the face gateway refused the request with HTTP {status}: {detail}")]
    Refused { status: u16, detail: String },
    #[error("the face gateway does not know job {job_id:?}")]
    UnknownJob { job_id: String },
    #[error("the face gateway answered HTTP {status}, which the contract does not allow here")]
    UnexpectedStatus { status: u16 },
    #[error("the face gateway's answer is not JSON: {detail}")]
    NotJson { detail: String },
    #[error("the face gateway's answer has no {field:?}")]
    MissingField { field: &'static str },
    #[error("the face gateway's {field:?} is not {expected}")]
    WrongType { field: &'static str, expected: &'static str },
    #[error("the face gateway's status {status:?} is not PENDING, IN_PROGRESS, SUCCESS or FAILURE")]
    UnknownStatus { status: String },
    #[error("the request has neither reference_photo nor reference_photo_url")]
    NoReferencePhoto,
    #[error("the reference photo's URL {detail}")]
    ReferencePhotoMissing { detail: String },
    #[error("the reference photo's URL is not allowed: {0}")]
    PhotoRefused(PhotoRefused),
    #[error("the caller's deadline left no time to finish the face check")]
    OutOfTime,
}

impl GatewayError {
    /// A fixed label for metrics (`attn_face_gateway_seconds{outcome}`): the
    /// kind of failure, never its details.
    pub fn label(&self) -> &'static str {
        use GatewayError::*;
        match self {
            NotConfigured => "not_configured",
            Unreachable { .. } => "unreachable",
            TimedOut { .. } | OutOfTime => "timed_out",
            ServerError { .. } => "server_error",
            TooLarge { .. } => "too_large",
            Refused { .. } => "refused",
            UnknownJob { .. } => "unknown_job",
            UnexpectedStatus { .. }
            | NotJson { .. }
            | MissingField { .. }
            | WrongType { .. }
            | UnknownStatus { .. } => "bad_answer",
            NoReferencePhoto | ReferencePhotoMissing { .. } | PhotoRefused(_) => "no_reference_photo",
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(err: GatewayError) -> Self {
        use GatewayError::*;
        match err {
            NotConfigured => Self::new(
                Reason::FaceChecksOff,
                "no face gateway is configured (ATTN_FACE_GATEWAY_URL), so face checks are off",
            ),
            NoReferencePhoto | ReferencePhotoMissing { .. } | PhotoRefused(_) => {
                Self::new(Reason::ReferenceImageNotFound, format!("REFERENCE_IMAGE_NOT_FOUND: {err}"))
            }
            Refused { .. } => Self::new(Reason::FaceCheckRefused, err.to_string()),
            UnknownJob { .. } => Self::new(Reason::FaceJobNotFound, err.to_string()),
            TooLarge { upstream: Upstream::PhotoHost, limit } => Self::from(Invalid::new(
                "reference_photo_url",
                format!("the photo is larger than the {limit}-byte limit"),
            )),
            OutOfTime => {
                tracing::warn!(error = %err, "face check stopped at the caller's deadline");
                Self::unavailable("the face check could not be done in the time allowed; try again shortly")
            }
            Unreachable { upstream, .. } | TimedOut { upstream } | ServerError { upstream, .. } => {
                // The detail (addresses, OS errors) is for operators, not callers.
                tracing::warn!(error = %err, "face check dependency unavailable");
                Self::unavailable(format!("{upstream} is unavailable right now; try again shortly"))
            }
            TooLarge { .. }
            | UnexpectedStatus { .. }
            | NotJson { .. }
            | MissingField { .. }
            | WrongType { .. }
            | UnknownStatus { .. } => {
                tracing::warn!(error = %err, "the face gateway sent a malformed answer");
                Self::unavailable(format!("{err}; try again shortly"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    fn code(err: GatewayError) -> Code {
        Status::from(ApiError::from(err)).code()
    }

    #[test]
    fn transient_failures_are_unavailable() {
        let gateway = Upstream::FaceGateway;
        assert_eq!(code(GatewayError::TimedOut { upstream: gateway }), Code::Unavailable);
        assert_eq!(code(GatewayError::ServerError { upstream: gateway, status: 503, attempts: 3 }), Code::Unavailable);
        let status = Status::from(ApiError::from(GatewayError::Unreachable {
            upstream: gateway,
            attempts: 3,
            detail: "connection refused (10.0.0.9:8090)".into(),
        }));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.9"), "{}", status.message());
    }

    #[test]
    fn running_out_of_the_callers_time_is_unavailable_with_a_plain_reason() {
        let status = Status::from(ApiError::from(GatewayError::OutOfTime));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("time allowed"), "{}", status.message());
    }

    #[test]
    fn malformed_answers_are_unavailable_with_a_plain_reason() {
        let status =
            Status::from(ApiError::from(GatewayError::NotJson { detail: "expected value at line 1 column 1".into() }));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("not JSON"), "{}", status.message());
        assert_eq!(code(GatewayError::MissingField { field: "status" }), Code::Unavailable);
        assert_eq!(code(GatewayError::UnknownStatus { status: "DONE".into() }), Code::Unavailable);
        assert_eq!(code(GatewayError::TooLarge { upstream: Upstream::FaceGateway, limit: 10 }), Code::Unavailable);
    }

    #[test]
    fn a_refused_job_is_a_failed_precondition_and_an_unknown_job_not_found() {
        let refused = GatewayError::Refused { status: 422, detail: "bad image".into() };
        assert_eq!(code(refused), Code::FailedPrecondition);
        assert_eq!(code(GatewayError::UnknownJob { job_id: "j1".into() }), Code::NotFound);
    }

    #[test]
    fn a_missing_reference_photo_says_reference_image_not_found() {
        for err in
            [GatewayError::NoReferencePhoto, GatewayError::ReferencePhotoMissing { detail: "answered HTTP 404".into() }]
        {
            let status = Status::from(ApiError::from(err));
            assert_eq!(status.code(), Code::FailedPrecondition);
            assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
        }
    }

    #[test]
    fn a_refused_photo_address_reads_as_a_missing_photo_and_names_no_url() {
        let refused = PhotoRefused::Address {
            host: "169.254.169.254".into(),
            reason: attn_domain::download_address::Refusal::LinkLocal,
        };
        let status = Status::from(ApiError::from(GatewayError::PhotoRefused(refused)));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
        assert!(status.message().contains("169.254.169.254 is a link-local address"), "{}", status.message());
    }

    #[test]
    fn an_oversized_reference_photo_names_its_field() {
        let status = Status::from(ApiError::from(GatewayError::TooLarge { upstream: Upstream::PhotoHost, limit: 10 }));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("reference_photo_url"), "{}", status.message());
    }

    #[test]
    fn each_failure_has_its_reason_code() {
        let reason = |err: GatewayError| ApiError::from(err).reason();
        assert_eq!(reason(GatewayError::NotConfigured), Reason::FaceChecksOff);
        assert_eq!(reason(GatewayError::NoReferencePhoto), Reason::ReferenceImageNotFound);
        assert_eq!(reason(GatewayError::Refused { status: 422, detail: "x".into() }), Reason::FaceCheckRefused);
        assert_eq!(reason(GatewayError::UnknownJob { job_id: "j1".into() }), Reason::FaceJobNotFound);
        assert_eq!(reason(GatewayError::OutOfTime), Reason::DependencyUnavailable);
        assert_eq!(reason(GatewayError::NotJson { detail: "x".into() }), Reason::DependencyUnavailable);
        assert_eq!(
            reason(GatewayError::TooLarge { upstream: Upstream::PhotoHost, limit: 10 }),
            Reason::InvalidArgument
        );
    }

    #[test]
    fn no_gateway_is_a_failed_precondition() {
        let status = Status::from(ApiError::from(GatewayError::NotConfigured));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().starts_with("no face gateway is configured"));
    }
}
