//! The one error every validation rule returns: which field, and why; and
//! [`Invalids`], every bad field of a request that checks several at once.

use std::fmt;

/// Bad input from a caller. Maps to `INVALID_ARGUMENT`; the message names the
/// field so the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every bad field a request has, in the order they were checked, so a
/// caller can fix them all in one go (sent as one `google.rpc.BadRequest`
/// field violation each). Never empty once it is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invalids(Vec<Invalid>);

impl Invalids {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value if `result` is good; otherwise notes the bad field and
    /// gives `None`, so checking goes on to the next field.
    pub fn check<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        result.map_err(|invalid| self.0.push(invalid)).ok()
    }

    pub fn push(&mut self, invalid: Invalid) {
        self.0.push(invalid);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Invalid> {
        self.0.iter()
    }
}

impl From<Invalid> for Invalids {
    fn from(invalid: Invalid) -> Self {
        Self(vec![invalid])
    }
}

impl<'a> IntoIterator for &'a Invalids {
    type Item = &'a Invalid;
    type IntoIter = std::slice::Iter<'a, Invalid>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `field: why; other_field: why`, one per bad field.
impl fmt::Display for Invalids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, invalid) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{invalid}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalids {}

/// Most characters of a caller's input that an error message quotes. The
/// message goes back in the `grpc-message` header and into the logs, so a
/// megabyte of input must not make a megabyte of error.
pub const QUOTED_INPUT_MAX_CHARS: usize = 64;

/// `input` as an error message shows it: in quotes, control characters
/// escaped, cut after [`QUOTED_INPUT_MAX_CHARS`] characters with `…`.
pub(crate) fn quoted(input: &str) -> String {
    match input.char_indices().nth(QUOTED_INPUT_MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &input[..cut]),
        None => format!("{input:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_kept_in_order_and_good_values_come_through() {
        let mut bad = Invalids::new();
        assert_eq!(bad.check::<u8>(Err(Invalid::new("lesson_name", "is required"))), None);
        assert_eq!(bad.check(Ok::<_, Invalid>(3)), Some(3));
        assert_eq!(bad.check::<u8>(Err(Invalid::new("duration", "must be positive"))), None);
        let fields: Vec<&str> = bad.iter().map(|i| i.field).collect();
        assert_eq!(fields, ["lesson_name", "duration"]);
        assert_eq!(bad.to_string(), "lesson_name: is required; duration: must be positive");
    }

    #[test]
    fn one_bad_field_reads_as_itself() {
        let one = Invalids::from(Invalid::new("selfie", "must be a JPEG or PNG image"));
        assert_eq!(one.to_string(), "selfie: must be a JPEG or PNG image");
        assert!(Invalids::new().is_empty());
    }

    #[test]
    fn short_input_is_quoted_whole_and_long_input_only_in_part() {
        assert_eq!(quoted("banana\n"), r#""banana\n""#);
        let long = "é".repeat(10_000);
        assert_eq!(quoted(&long), format!("{:?}…", "é".repeat(QUOTED_INPUT_MAX_CHARS)));
    }
}
