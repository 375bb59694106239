//! Checks on what callers send. Each returns the cleaned value or an
//! [`Invalid`] naming the field.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::{Invalid, invalid::quoted};

pub const LESSON_NAME_MAX_CHARS: usize = 200;
pub const REASON_MAX_CHARS: usize = 500;
pub const FULL_NAME_MAX_CHARS: usize = 200;
pub const SCHOOL_NUMBER_MAX_CHARS: usize = 64;
pub const REQUEST_ID_MAX_CHARS: usize = 64;
/// A session ends at most this long after it starts.
pub const MAX_SESSION_LENGTH: Duration = Duration::hours(24);

fn text(field: &'static str, value: &str, max_chars: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(Invalid::new(field, format!("must be at most {max_chars} characters, not {chars}")));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

pub fn lesson_name(value: &str) -> Result<String, Invalid> {
    text("lesson_name", value, LESSON_NAME_MAX_CHARS)
}

pub fn reason(value: &str) -> Result<String, Invalid> {
    text("reason", value, REASON_MAX_CHARS)
}

pub fn full_name(field: &'static str, value: &str) -> Result<String, Invalid> {
    text(field, value, FULL_NAME_MAX_CHARS)
}

/// School numbers are user names: letters, digits, `_`, `-` and `.`.
pub fn school_number(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = text(field, value, SCHOOL_NUMBER_MAX_CHARS)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(Invalid::new(field, "may contain only letters, digits, '_', '-' and '.'"));
    }
    Ok(value)
}

pub fn attendance_id(value: &str) -> Result<Uuid, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new("attendance_id", "is required"));
    }
    Uuid::try_parse(value).map_err(|_| Invalid::new("attendance_id", format!("{} is not a UUID", quoted(value))))
}

/// Empty means the client did not ask for replay protection.
pub fn request_id(value: &str) -> Result<Option<String>, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > REQUEST_ID_MAX_CHARS || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Invalid::new(
            "request_id",
            format!("must be 1 to {REQUEST_ID_MAX_CHARS} printable ASCII characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// How the teacher said when check-in closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    At(DateTime<Utc>),
    After(Duration),
    Unset,
}

/// The end time of a new session: in the future, and at most 24 hours away.
pub fn end_time(now: DateTime<Utc>, end: SessionEnd) -> Result<DateTime<Utc>, Invalid> {
    let (field, end) = match end {
        SessionEnd::At(at) => ("end_time", at),
        SessionEnd::After(after) => {
            if after <= Duration::zero() {
                return Err(Invalid::new("duration", "must be positive"));
            }
            if after > MAX_SESSION_LENGTH {
                return Err(Invalid::new("duration", "must be at most 24 hours"));
            }
            ("duration", now + after)
        }
        SessionEnd::Unset => {
            return Err(Invalid::new("end_time", "end_time or duration is required"));
        }
    };
    if end <= now {
        return Err(Invalid::new(field, "must be in the future"));
    }
    if end > now + MAX_SESSION_LENGTH {
        return Err(Invalid::new(field, "must be at most 24 hours from now"));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn lesson_name_is_trimmed() {
        assert_eq!(lesson_name("  Physics 101 ").unwrap(), "Physics 101");
    }

    #[test]
    fn empty_lesson_name_is_invalid() {
        for bad in ["", "   "] {
            assert_eq!(lesson_name(bad).unwrap_err().field, "lesson_name");
        }
    }

    #[test]
    fn over_long_lesson_name_is_invalid() {
        let long = "x".repeat(LESSON_NAME_MAX_CHARS + 1);
        let err = lesson_name(&long).unwrap_err();
        assert_eq!(err.field, "lesson_name");
        assert!(err.message.contains("200"));
        assert!(lesson_name(&"é".repeat(LESSON_NAME_MAX_CHARS)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(lesson_name("a\u{0}b").is_err());
    }

    #[test]
    fn end_time_in_the_past_is_invalid() {
        let err = end_time(now(), SessionEnd::At(now() - Duration::seconds(1))).unwrap_err();
        assert_eq!(err.field, "end_time");
        assert!(end_time(now(), SessionEnd::At(now())).is_err());
    }

    #[test]
    fn end_time_more_than_a_day_ahead_is_invalid() {
        let err = end_time(now(), SessionEnd::At(now() + Duration::hours(24) + Duration::seconds(1))).unwrap_err();
        assert_eq!(err.field, "end_time");
        assert!(end_time(now(), SessionEnd::At(now() + Duration::hours(24))).is_ok());
    }

    #[test]
    fn duration_becomes_an_end_time() {
        assert_eq!(end_time(now(), SessionEnd::After(Duration::minutes(90))).unwrap(), now() + Duration::minutes(90));
    }

    #[test]
    fn zero_negative_or_huge_durations_are_invalid() {
        for bad in [Duration::zero(), Duration::seconds(-5), Duration::hours(25)] {
            assert_eq!(end_time(now(), SessionEnd::After(bad)).unwrap_err().field, "duration");
        }
    }

    #[test]
    fn missing_end_is_invalid() {
        assert!(end_time(now(), SessionEnd::Unset).is_err());
    }

    #[test]
    fn attendance_id_must_be_a_uuid() {
        assert!(attendance_id("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").is_ok());
        let err = attendance_id("not-a-uuid").unwrap_err();
        assert_eq!(err.field, "attendance_id");
        assert!(err.message.contains("not-a-uuid"));
        assert_eq!(attendance_id("").unwrap_err().message, "is required");
    }

    #[test]
    fn a_huge_attendance_id_is_quoted_only_in_part_in_the_error() {
        // Found by the validator property test: the error echoed all of it.
        let err = attendance_id(&"x".repeat(3_000_000)).unwrap_err();
        assert!(err.message.len() < 200, "{} bytes", err.message.len());
        assert!(err.message.ends_with("… is not a UUID"), "{}", err.message);
    }

    #[test]
    fn request_id_is_optional_but_bounded() {
        assert_eq!(request_id("").unwrap(), None);
        assert_eq!(request_id("abc-1").unwrap().as_deref(), Some("abc-1"));
        assert!(request_id(&"r".repeat(65)).is_err());
        assert!(request_id("has space").is_err());
    }

    #[test]
    fn school_numbers_are_plain_identifiers() {
        assert_eq!(school_number("student_number", " s-1.2_3 ").unwrap(), "s-1.2_3");
        assert!(school_number("student_number", "a b").is_err());
        assert!(school_number("student_number", "ö").is_err());
    }
}
