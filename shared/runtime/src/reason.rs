//! Why a call failed, as a stable code a client can switch on.
//!
//! Every error ATTN sends carries a `google.rpc.ErrorInfo` whose `reason`
//! is one of these codes and whose `domain` is [`ERROR_DOMAIN`]. A code
//! names one cause and always comes with the same gRPC status, so a mobile
//! app can show a message in the student's language without parsing
//! English. Codes are part of the public contract: add new ones, never
//! rename or reuse one. The table in README.md and the comment at the top of
//! `proto/attn/v1/common.proto` list them all (a test checks both).

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The `domain` of every `google.rpc.ErrorInfo` ATTN sends.
pub const ERROR_DOMAIN: &str = "attn.v1";

/// How long to wait before trying again after an UNAVAILABLE that a retry
/// may well fix (sent as `google.rpc.RetryInfo`).
pub const UNAVAILABLE_RETRY_DELAY: Duration = Duration::from_secs(1);

macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $name:ident = $code:literal, $status:ident;)*) => {
        /// Why a call failed; see the module comment.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])* $name,)*
        }

        impl Reason {
            /// Every reason, in the order the README lists them.
            pub const ALL: &[Reason] = &[$(Reason::$name,)*];

            /// The stable code sent as `ErrorInfo.reason` (UPPER_SNAKE).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => $code,)*
                }
            }

            /// The one gRPC status this reason is sent with.
            pub const fn code(self) -> Code {
                match self {
                    $(Reason::$name => Code::$status,)*
                }
            }
        }
    };
}

reasons! {
    /// Bad input; a `BadRequest` names every bad field.
    InvalidArgument = "INVALID_ARGUMENT", InvalidArgument;
    /// No `authorization: Bearer <token>` metadata, or a call that needs a signed-in user.
    Unauthenticated = "UNAUTHENTICATED", Unauthenticated;
    /// Login: wrong username or password (the same answer for both).
    WrongCredentials = "WRONG_CREDENTIALS", Unauthenticated;
    /// The token is unknown, signed out or expired: sign in again.
    TokenInvalid = "TOKEN_INVALID", Unauthenticated;
    /// An open stream ended because its sign-in expired.
    TokenExpired = "TOKEN_EXPIRED", Unauthenticated;
    /// An open stream ended because its sign-in was logged out.
    SignedOut = "SIGNED_OUT", Unauthenticated;
    /// A call between ATTN services without the right internal token.
    ServiceTokenInvalid = "SERVICE_TOKEN_INVALID", Unauthenticated;
    /// The caller's role may not call this service (a student calling TeacherService).
    WrongRole = "WRONG_ROLE", PermissionDenied;
    /// A method ATTN does not serve, for every caller.
    MethodNotServed = "METHOD_NOT_SERVED", PermissionDenied;
    /// No such session, or not the caller's (the two read the same).
    SessionNotFound = "SESSION_NOT_FOUND", NotFound;
    /// The caller (or the named student) has no record in the session.
    RecordNotFound = "RECORD_NOT_FOUND", NotFound;
    /// The face gateway does not know the face check's job (internal API).
    FaceJobNotFound = "FACE_JOB_NOT_FOUND", NotFound;
    /// The teacher already has an active session; finish it first.
    TeacherHasOpenSession = "TEACHER_HAS_OPEN_SESSION", AlreadyExists;
    /// Attend: the student has already attended this session.
    AlreadyCheckedIn = "ALREADY_CHECKED_IN", AlreadyExists;
    /// Attend: the student's check-in is waiting for a face check.
    AlreadyPending = "ALREADY_PENDING", AlreadyExists;
    /// The session has ended (or is archived).
    SessionEnded = "SESSION_ENDED", FailedPrecondition;
    /// The teacher deleted the session.
    SessionDeleted = "SESSION_DELETED", FailedPrecondition;
    /// Attend: the teacher failed this check-in by hand.
    FailedByTeacher = "FAILED_BY_TEACHER", FailedPrecondition;
    /// Attend: the teacher removed the student's record.
    RecordDeleted = "RECORD_DELETED", FailedPrecondition;
    /// StartAttendance without networks from a teacher whose address is unknown.
    TeacherAddressUnknown = "TEACHER_ADDRESS_UNKNOWN", FailedPrecondition;
    /// StartAttendance: every network is of the other IP family than the teacher's.
    NetworkFamilyMismatch = "NETWORK_FAMILY_MISMATCH", FailedPrecondition;
    /// Security option 3 (or a face check) on a deployment with no face gateway.
    FaceChecksOff = "FACE_CHECKS_OFF", FailedPrecondition;
    /// The student has no usable reference photo (internal API).
    ReferenceImageNotFound = "REFERENCE_IMAGE_NOT_FOUND", FailedPrecondition;
    /// The face gateway refused the job (HTTP 4xx) (internal API).
    FaceCheckRefused = "FACE_CHECK_REFUSED", FailedPrecondition;
    /// RunJob: the job is running already (here or on another replica).
    JobRunning = "JOB_RUNNING", FailedPrecondition;
    /// Too many sign-in or check-in attempts; `RetryInfo` says when to try again.
    RateLimited = "RATE_LIMITED", ResourceExhausted;
    /// Too many sign-ins waiting for a password check; `RetryInfo` says when to try again.
    Overloaded = "OVERLOADED", ResourceExhausted;
    /// More open streams than `ATTN_STREAMS_PER_USER`: close one first.
    TooManyStreams = "TOO_MANY_STREAMS", ResourceExhausted;
    /// Redis, PostgreSQL or another service is down or too slow: try again.
    DependencyUnavailable = "DEPENDENCY_UNAVAILABLE", Unavailable;
    /// The session or record changed under the call too often: try again.
    Contended = "CONTENDED", Unavailable;
    /// The server is shutting down: reconnect (another replica will answer).
    ShuttingDown = "SHUTTING_DOWN", Unavailable;
    /// Our fault; it has been logged.
    Internal = "INTERNAL", Internal;
    /// Made by the gRPC machinery, not ATTN's handlers: something else not
    /// found (a health check of a service this port does not serve).
    NotFound = "NOT_FOUND", NotFound;
    /// Made by the gRPC machinery: the call was cancelled.
    Cancelled = "CANCELLED", Cancelled;
    /// Made by the gRPC machinery: a method this port does not implement.
    Unimplemented = "UNIMPLEMENTED", Unimplemented;
    /// Made by the gRPC machinery: a message larger than the server takes.
    OutOfRange = "OUT_OF_RANGE", OutOfRange;
    /// Made by the gRPC machinery: an error with no better code.
    Unknown = "UNKNOWN", Unknown;
    /// WatchCheckInCode on a session started without `require_check_in_code`.
    CheckInCodeNotRequired = "CHECK_IN_CODE_NOT_REQUIRED", FailedPrecondition;
    /// The call ran past `ATTN_REQUEST_TIMEOUT_MS` or the caller's deadline;
    /// metadata `timeout_ms`.
    RequestTimedOut = "REQUEST_TIMED_OUT", DeadlineExceeded;
    /// Attend: the student is not enrolled in the session's course, and the
    /// session was not opened with `allow_walk_ins`.
    NotEnrolled = "NOT_ENROLLED", FailedPrecondition;
    /// Attend: the teacher excused the student from this session.
    Excused = "EXCUSED", FailedPrecondition;
}

impl Reason {
    /// The reason a code names, if it is one of ours.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|reason| reason.as_str() == code)
    }

    /// The reason for an error the gRPC machinery (tonic, health,
    /// reflection) made without one: the code's own name, where ATTN has
    /// such a reason.
    pub fn generic(code: Code) -> Option<Self> {
        Some(match code {
            Code::InvalidArgument => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::NotFound => Self::NotFound,
            Code::Cancelled => Self::Cancelled,
            Code::Unimplemented => Self::Unimplemented,
            Code::OutOfRange => Self::OutOfRange,
            Code::Internal => Self::Internal,
            Code::Unknown => Self::Unknown,
            _ => return None,
        })
    }

    /// The delay sent in `RetryInfo` when the error itself does not set one:
    /// a short pause for every UNAVAILABLE, none otherwise.
    pub fn default_retry_delay(self) -> Option<Duration> {
        (self.code() == Code::Unavailable).then_some(UNAVAILABLE_RETRY_DELAY)
    }
}

/// The reason an ATTN service sent with `status`, if it sent one of ours
/// that fits the status's code.
pub fn reason_of(status: &Status) -> Option<Reason> {
    let info = status.get_details_error_info()?;
    if info.domain != ERROR_DOMAIN {
        return None;
    }
    Reason::parse(&info.reason).filter(|reason| reason.code() == status.code())
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_upper_snake_and_read_back() {
        let mut seen = HashSet::new();
        for &reason in Reason::ALL {
            let code = reason.as_str();
            assert!(seen.insert(code), "{code} is used twice");
            assert!(code.len() <= 63, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'), "{code}");
            assert_eq!(Reason::parse(code), Some(reason));
        }
        assert_eq!(Reason::parse("session_ended"), None);
    }

    /// The codes are the contract: this list changes only by adding to it.
    #[test]
    fn codes_are_stable() {
        let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            codes,
            [
                "INVALID_ARGUMENT",
                "UNAUTHENTICATED",
                "WRONG_CREDENTIALS",
                "TOKEN_INVALID",
                "TOKEN_EXPIRED",
                "SIGNED_OUT",
                "SERVICE_TOKEN_INVALID",
                "WRONG_ROLE",
                "METHOD_NOT_SERVED",
                "SESSION_NOT_FOUND",
                "RECORD_NOT_FOUND",
                "FACE_JOB_NOT_FOUND",
                "TEACHER_HAS_OPEN_SESSION",
                "ALREADY_CHECKED_IN",
                "ALREADY_PENDING",
                "SESSION_ENDED",
                "SESSION_DELETED",
                "FAILED_BY_TEACHER",
                "RECORD_DELETED",
                "TEACHER_ADDRESS_UNKNOWN",
                "NETWORK_FAMILY_MISMATCH",
                "FACE_CHECKS_OFF",
                "REFERENCE_IMAGE_NOT_FOUND",
                "FACE_CHECK_REFUSED",
                "JOB_RUNNING",
                "RATE_LIMITED",
                "OVERLOADED",
                "TOO_MANY_STREAMS",
                "DEPENDENCY_UNAVAILABLE",
                "CONTENDED",
                "SHUTTING_DOWN",
                "INTERNAL",
                "NOT_FOUND",
                "CANCELLED",
                "UNIMPLEMENTED",
                "OUT_OF_RANGE",
                "UNKNOWN",
                "CHECK_IN_CODE_NOT_REQUIRED",
                "REQUEST_TIMED_OUT",
                "NOT_ENROLLED",
                "EXCUSED",
            ]
        );
    }

    #[test]
    fn every_code_has_the_status_its_name_promises() {
        assert_eq!(Reason::SessionEnded.code(), Code::FailedPrecondition);
        assert_eq!(Reason::AlreadyCheckedIn.code(), Code::AlreadyExists);
        assert_eq!(Reason::WrongRole.code(), Code::PermissionDenied);
        assert_eq!(Reason::RateLimited.code(), Code::ResourceExhausted);
        assert_eq!(Reason::DependencyUnavailable.code(), Code::Unavailable);
        for &reason in Reason::ALL {
            assert_ne!(reason.code(), Code::Ok, "{reason}");
        }
    }

    #[test]
    fn a_generic_reason_is_named_as_its_code_and_comes_with_it() {
        for code in [Code::InvalidArgument, Code::NotFound, Code::Cancelled, Code::Internal, Code::Unknown] {
            let reason = Reason::generic(code).expect("a generic reason");
            assert_eq!(reason.code(), code);
            assert_eq!(reason.as_str(), status_name(code));
        }
        assert_eq!(Reason::generic(Code::FailedPrecondition), None);
    }

    #[test]
    fn only_unavailable_reasons_ask_for_a_retry_by_default() {
        for &reason in Reason::ALL {
            let retry = reason.default_retry_delay();
            assert_eq!(retry.is_some(), reason.code() == Code::Unavailable, "{reason}");
        }
        assert_eq!(Reason::DependencyUnavailable.default_retry_delay(), Some(Duration::from_secs(1)));
    }

    /// Clients read the list in README.md and in common.proto; both must
    /// name every code.
    #[test]
    fn the_readme_and_the_proto_list_every_code() {
        let readme = include_str!("../../../README.md");
        let proto = include_str!("../../../proto/attn/v1/common.proto");
        for &reason in Reason::ALL {
            let row = format!("| `{}` | {} |", reason.as_str(), status_name(reason.code()));
            assert!(readme.contains(&row), "README.md has no row starting {row:?}");
            assert!(proto.contains(&format!("//   {} ", reason.as_str())), "common.proto does not list {reason}");
        }
    }

    fn status_name(code: Code) -> &'static str {
        match code {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
            Code::Cancelled => "CANCELLED",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unknown => "UNKNOWN",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            other => panic!("no README name for {other:?}"),
        }
    }
}
