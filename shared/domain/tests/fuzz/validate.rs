//! The request validators: names, reasons, school numbers, ids, end times.

use attn_domain::{
    Invalid,
    validate::{
        self, FULL_NAME_MAX_CHARS, LESSON_NAME_MAX_CHARS, MAX_SESSION_LENGTH, REASON_MAX_CHARS, REQUEST_ID_MAX_CHARS,
        SCHOOL_NUMBER_MAX_CHARS, SessionEnd,
    },
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use crate::strategies::{MESSAGE_MAX_CHARS, client_text, tricky_char};

type TextRule = fn(&str) -> Result<String, Invalid>;

/// The free-text rules: the rule, the field it names, its limit.
const TEXT_RULES: [(TextRule, &str, usize); 3] = [
    (validate::lesson_name, "lesson_name", LESSON_NAME_MAX_CHARS),
    (validate::reason, "reason", REASON_MAX_CHARS),
    (|value| validate::full_name("full_name", value), "full_name", FULL_NAME_MAX_CHARS),
];

fn short_error(err: &Invalid) -> Result<(), TestCaseError> {
    prop_assert!(!err.message.is_empty());
    prop_assert!(err.message.chars().count() <= MESSAGE_MAX_CHARS, "{} chars", err.message.chars().count());
    Ok(())
}

/// School-number-shaped text: the allowed characters, sometimes one that
/// is not, padded with spaces, around the limit.
fn school_number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ \t]{0,2}[A-Za-z0-9_.-]{0,70}[ \t]{0,2}",
        2 => ("[A-Za-z0-9_.-]{0,10}", tricky_char(), "[A-Za-z0-9_.-]{0,10}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        1 => client_text(SCHOOL_NUMBER_MAX_CHARS),
    ]
}

/// A UUID as clients write it: any of the standard forms, any case, padded.
fn uuid_text() -> impl Strategy<Value = (String, Uuid)> {
    (any::<[u8; 16]>(), 0..4usize, any::<bool>(), prop::sample::select(vec!["", " ", "\t", "\n"])).prop_map(
        |(bytes, form, upper, padding)| {
            let id = Uuid::from_bytes(bytes);
            let text = match form {
                0 => id.hyphenated().to_string(),
                1 => id.simple().to_string(),
                2 => id.braced().to_string(),
                _ => id.urn().to_string(),
            };
            let text = if upper { text.to_uppercase() } else { text };
            (format!("{padding}{text}{padding}"), id)
        },
    )
}

/// Megabytes would do too; a few thousand characters are enough to show
/// an error does not quote them all.
fn huge_text() -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 1_000..3_000).prop_map(String::from_iter)
}

fn now() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970 to 2100: the server's clock, not the client's input.
    (0..=4_102_444_800i64, 0..1_000_000_000u32)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).expect("in range"))
}

/// How a client may say when a session ends: near now, anywhere chrono can
/// represent, or any duration at all.
fn session_end(now: DateTime<Utc>) -> impl Strategy<Value = SessionEnd> {
    let day_ms = MAX_SESSION_LENGTH.num_milliseconds();
    prop_oneof![
        (-2 * day_ms..=2 * day_ms).prop_map(move |ms| SessionEnd::At(now + TimeDelta::milliseconds(ms))),
        (DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(), 0..1_000_000_000u32)
            .prop_map(|(secs, nanos)| SessionEnd::At(DateTime::from_timestamp(secs, nanos).expect("in range"))),
        (-2 * day_ms..=2 * day_ms).prop_map(|ms| SessionEnd::After(TimeDelta::milliseconds(ms))),
        (-i64::MAX..=i64::MAX).prop_map(|ms| SessionEnd::After(TimeDelta::milliseconds(ms))),
        Just(SessionEnd::Unset),
    ]
}

proptest! {
    #[test]
    fn free_text_is_accepted_exactly_when_trimmed_non_empty_within_the_limit_and_free_of_control_characters(
        value in client_text(LESSON_NAME_MAX_CHARS),
        long in client_text(REASON_MAX_CHARS),
    ) {
        for input in [&value, &long] {
            for (rule, field, limit) in TEXT_RULES {
                let trimmed = input.trim();
                let acceptable = !trimmed.is_empty()
                    && trimmed.chars().count() <= limit
                    && !trimmed.chars().any(char::is_control);
                match rule(input) {
                    Ok(accepted) => {
                        prop_assert!(acceptable, "{field} accepted {accepted:?}");
                        prop_assert_eq!(&accepted, trimmed);
                        prop_assert!(accepted.chars().count() <= limit);
                        prop_assert!(!accepted.chars().any(char::is_control));
                    }
                    Err(err) => {
                        prop_assert!(!acceptable, "{field} refused {trimmed:?}: {err}");
                        prop_assert_eq!(err.field, field);
                        short_error(&err)?;
                    }
                }
            }
        }
    }

    #[test]
    fn school_numbers_are_one_to_64_letters_digits_dots_dashes_or_underscores(value in school_number_text()) {
        let trimmed = value.trim();
        let acceptable = (1..=SCHOOL_NUMBER_MAX_CHARS).contains(&trimmed.chars().count())
            && trimmed.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        match validate::school_number("student_number", &value) {
            Ok(accepted) => {
                prop_assert!(acceptable, "accepted {accepted:?}");
                prop_assert_eq!(accepted, trimmed);
            }
            Err(err) => {
                prop_assert!(!acceptable, "refused {trimmed:?}: {err}");
                prop_assert_eq!(err.field, "student_number");
                short_error(&err)?;
            }
        }
    }

    #[test]
    fn attendance_ids_are_uuids_in_any_standard_form_and_nothing_else(
        (text, id) in uuid_text(),
        other in prop_oneof![client_text(40), huge_text()],
    ) {
        prop_assert_eq!(validate::attendance_id(&text), Ok(id));
        match validate::attendance_id(&other) {
            Ok(parsed) => prop_assert_eq!(Uuid::try_parse(other.trim()), Ok(parsed)),
            Err(err) => {
                prop_assert_eq!(err.field, "attendance_id");
                short_error(&err)?;
            }
        }
    }

    #[test]
    fn request_ids_are_absent_or_1_to_64_printable_ascii_characters(
        value in prop_oneof![client_text(REQUEST_ID_MAX_CHARS), "[ ]{0,2}[!-~]{0,70}[ ]{0,2}"],
    ) {
        let trimmed = value.trim();
        match validate::request_id(&value) {
            Ok(None) => prop_assert!(trimmed.is_empty()),
            Ok(Some(id)) => {
                prop_assert_eq!(&id, trimmed);
                prop_assert!((1..=REQUEST_ID_MAX_CHARS).contains(&id.len()));
                prop_assert!(id.chars().all(|c| c.is_ascii_graphic()), "{:?}", id);
            }
            Err(err) => {
                prop_assert!(
                    trimmed.len() > REQUEST_ID_MAX_CHARS || !trimmed.chars().all(|c| c.is_ascii_graphic()),
                    "refused {trimmed:?}"
                );
                prop_assert_eq!(err.field, "request_id");
                short_error(&err)?;
            }
        }
    }

    #[test]
    fn a_session_ends_in_the_future_and_within_a_day_of_now(
        (now, end) in now().prop_flat_map(|now| (Just(now), session_end(now))),
    ) {
        match validate::end_time(now, end) {
            Ok(at) => {
                prop_assert!(now < at && at <= now + MAX_SESSION_LENGTH, "{now} → {at}");
                match end {
                    SessionEnd::At(asked) => prop_assert_eq!(at, asked),
                    SessionEnd::After(after) => prop_assert_eq!(at, now + after),
                    SessionEnd::Unset => prop_assert!(false, "no end was given"),
                }
            }
            Err(err) => {
                let field = if matches!(end, SessionEnd::After(_)) { "duration" } else { "end_time" };
                prop_assert_eq!(err.field, field);
                if let SessionEnd::At(asked) = end {
                    prop_assert!(asked <= now || asked > now + MAX_SESSION_LENGTH, "refused {asked} at {now}");
                }
                if let SessionEnd::After(after) = end {
                    prop_assert!(after <= TimeDelta::zero() || after > MAX_SESSION_LENGTH, "refused {after}");
                }
            }
        }
    }
}
