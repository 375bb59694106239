//! The one error every validation rule returns: which field, and why.

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
    fn short_input_is_quoted_whole_and_long_input_only_in_part() {
        assert_eq!(quoted("banana\n"), r#""banana\n""#);
        let long = "é".repeat(10_000);
        assert_eq!(quoted(&long), format!("{:?}…", "é".repeat(QUOTED_INPUT_MAX_CHARS)));
    }
}
