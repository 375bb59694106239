//! The rotating check-in code a teacher shows on the projector.
//!
//! Each session that asks for one has a random 32-byte secret. Time is cut
//! into windows of `period` seconds (`window = floor(unix_seconds / period)`),
//! and the code of a window is the HOTP truncation (RFC 4226, section 5.3)
//! of HMAC-SHA256(secret, window as 8 big-endian bytes), as 6 zero-padded
//! digits: TOTP (RFC 6238) with SHA-256. Every replica computes the same
//! code from the secret and its clock, so nothing is written per rotation.
//!
//! A check-in is accepted with the current window's code or the previous
//! window's: a student who read the projector just before it changed still
//! gets in, so each code works for between one and two periods. A check-in
//! with no code, a wrong or a stale one is recorded as failed with
//! [`crate::FailCode::CheckInCodeInvalid`], which the student may retry.

use std::fmt;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Invalid;

/// The period when the teacher names none.
pub const DEFAULT_PERIOD_SECS: u32 = 15;
/// Shorter and nobody could type a code in time.
pub const MIN_PERIOD_SECS: u32 = 5;
/// Longer and a code passed to a friend outside stays useful for too long.
pub const MAX_PERIOD_SECS: u32 = 300;
/// Bytes of a session's secret.
pub const SECRET_LEN: usize = 32;
/// Digits of a code.
pub const DIGITS: usize = 6;

/// A session's secret. Never shown: `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeSecret([u8; SECRET_LEN]);

impl fmt::Debug for CodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeSecret(..)")
    }
}

impl CodeSecret {
    /// From a CSPRNG's bytes (the caller draws them: no I/O here).
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// As stored (hex).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; SECRET_LEN];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

/// A session's code settings: the secret and the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInCode {
    pub secret: CodeSecret,
    pub period_secs: u32,
}

/// One code as the projector shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownCode {
    pub code: String,
    pub window: u64,
    /// When the next code replaces it (Unix ms).
    pub valid_until_ms: i64,
    /// When check-ins stop accepting it: one period later (the grace).
    pub accepted_until_ms: i64,
}

/// The period a teacher asked for, in whole seconds: `None` for the default.
pub fn period(given: Option<(i64, i32)>) -> Result<u32, Invalid> {
    let Some((seconds, nanos)) = given else {
        return Ok(DEFAULT_PERIOD_SECS);
    };
    let in_range = (i64::from(MIN_PERIOD_SECS)..=i64::from(MAX_PERIOD_SECS)).contains(&seconds);
    if nanos != 0 || !in_range {
        return Err(Invalid::new(
            "check_in_code_period",
            format!("must be whole seconds from {MIN_PERIOD_SECS}s to {MAX_PERIOD_SECS}s"),
        ));
    }
    Ok(seconds as u32)
}

/// The window `now_ms` falls in. Times before 1970 are window 0.
pub fn window(now_ms: i64, period_secs: u32) -> u64 {
    let period_ms = i64::from(period_secs.max(1)) * 1000;
    u64::try_from(now_ms.div_euclid(period_ms)).unwrap_or(0)
}

/// When `window` starts (Unix ms).
pub fn window_start_ms(window: u64, period_secs: u32) -> i64 {
    i64::try_from(window).unwrap_or(i64::MAX).saturating_mul(i64::from(period_secs.max(1)) * 1000)
}

/// The code of one window: HOTP's dynamic truncation of HMAC-SHA256.
pub fn code_for_window(secret: &CodeSecret, window: u64) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
    mac.update(&window.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", binary % 1_000_000)
}

impl CheckInCode {
    /// The code to show at `now_ms`.
    pub fn shown_at(&self, now_ms: i64) -> ShownCode {
        let window = window(now_ms, self.period_secs);
        let valid_until_ms = window_start_ms(window + 1, self.period_secs);
        ShownCode {
            code: code_for_window(&self.secret, window),
            window,
            valid_until_ms,
            accepted_until_ms: valid_until_ms.saturating_add(i64::from(self.period_secs) * 1000),
        }
    }

    /// Whether `given` is the current window's code or the previous one's.
    /// Spaces are ignored (`123 456`); compared in constant time, both
    /// windows always computed.
    pub fn accepts(&self, given: &str, now_ms: i64) -> bool {
        let given: String = given.chars().filter(|c| !c.is_whitespace()).collect();
        let current = window(now_ms, self.period_secs);
        let now = code_for_window(&self.secret, current);
        let before = code_for_window(&self.secret, current.saturating_sub(1));
        let matches = given.as_bytes().ct_eq(now.as_bytes()) | given.as_bytes().ct_eq(before.as_bytes());
        matches.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-256 key: "12345678901234567890123456789012".
    fn rfc_secret() -> CodeSecret {
        CodeSecret::from_bytes(*b"12345678901234567890123456789012")
    }

    fn code(period_secs: u32) -> CheckInCode {
        CheckInCode { secret: rfc_secret(), period_secs }
    }

    #[test]
    fn codes_match_rfc_6238s_sha256_vectors_cut_to_six_digits() {
        // RFC 6238 appendix B (SHA256, 30 s steps): the last six of each
        // eight digits. Recomputed with Python's hmac as well.
        for (unix, expected) in [
            (59, "119246"),
            (1_111_111_109, "084774"),
            (1_111_111_111, "062674"),
            (1_234_567_890, "819424"),
            (2_000_000_000, "698825"),
            (20_000_000_000, "737706"),
        ] {
            assert_eq!(code_for_window(&rfc_secret(), unix / 30), expected, "at {unix}");
            assert_eq!(code(30).shown_at(unix as i64 * 1000).code, expected, "at {unix}");
        }
    }

    #[test]
    fn codes_of_another_secret_match_pythons_hmac() {
        let secret = CodeSecret::from_bytes(std::array::from_fn(|i| i as u8));
        let codes: Vec<String> = [0, 1, 2, 118_666_666].into_iter().map(|w| code_for_window(&secret, w)).collect();
        assert_eq!(codes, ["464393", "309558", "991662", "881833"]);
    }

    #[test]
    fn a_code_is_always_six_digits_zero_padded() {
        let secret = rfc_secret();
        for window in 0..2_000 {
            let code = code_for_window(&secret, window);
            assert_eq!(code.len(), DIGITS);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn windows_are_floor_of_unix_seconds_over_the_period() {
        assert_eq!(window(0, 15), 0);
        assert_eq!(window(14_999, 15), 0);
        assert_eq!(window(15_000, 15), 1);
        assert_eq!(window(1_780_000_007_000, 15), 1_780_000_007 / 15);
        assert_eq!(window(-5, 15), 0);
        assert_eq!(window_start_ms(3, 15), 45_000);
    }

    #[test]
    fn the_shown_code_is_valid_until_its_window_ends_and_accepted_one_period_more() {
        let shown = code(15).shown_at(31_000);
        assert_eq!(shown.window, 2);
        assert_eq!(shown.valid_until_ms, 45_000);
        assert_eq!(shown.accepted_until_ms, 60_000);
    }

    #[test]
    fn the_current_and_the_previous_windows_code_are_accepted() {
        let c = code(15);
        let now = 1_780_000_000_000;
        let current = c.shown_at(now).code;
        let previous = c.shown_at(now - 15_000).code;
        let older = c.shown_at(now - 30_000).code;
        let next = c.shown_at(now + 15_000).code;
        assert!(c.accepts(&current, now));
        assert!(c.accepts(&previous, now), "a student typing at the boundary");
        assert!(!c.accepts(&older, now), "two windows old");
        assert!(!c.accepts(&next, now), "a future code");
    }

    #[test]
    fn a_code_is_accepted_exactly_until_one_period_after_it_stops_being_shown() {
        let c = code(15);
        let shown = c.shown_at(10_000);
        assert!(c.accepts(&shown.code, shown.accepted_until_ms - 1));
        assert!(!c.accepts(&shown.code, shown.accepted_until_ms));
    }

    #[test]
    fn wrong_empty_and_padded_codes() {
        let c = code(15);
        let now = 1_780_000_000_000;
        let current = c.shown_at(now).code;
        assert!(!c.accepts("", now));
        assert!(!c.accepts("000000x", now));
        assert!(!c.accepts(&format!("{current}0"), now));
        assert!(c.accepts(&format!(" {} {} ", &current[..3], &current[3..]), now), "spaces are ignored");
    }

    #[test]
    fn another_secret_gives_other_codes() {
        let other = CodeSecret::from_bytes([7; SECRET_LEN]);
        let differ = (0..100).filter(|w| code_for_window(&other, *w) != code_for_window(&rfc_secret(), *w)).count();
        assert!(differ >= 99, "{differ} of 100 windows differ");
    }

    #[test]
    fn the_period_defaults_to_15_s_and_must_be_whole_seconds_from_5_to_300() {
        assert_eq!(period(None), Ok(DEFAULT_PERIOD_SECS));
        assert_eq!(period(Some((5, 0))), Ok(5));
        assert_eq!(period(Some((300, 0))), Ok(300));
        for bad in [(4, 0), (301, 0), (0, 0), (-15, 0), (15, 500_000_000), (i64::MAX, 0)] {
            let err = period(Some(bad)).unwrap_err();
            assert_eq!(err.field, "check_in_code_period", "{bad:?}");
        }
    }

    #[test]
    fn the_secret_round_trips_as_hex_and_never_prints() {
        let secret = CodeSecret::from_bytes([0xab; SECRET_LEN]);
        assert_eq!(CodeSecret::from_hex(&secret.to_hex()), Some(secret.clone()));
        assert_eq!(CodeSecret::from_hex("abcd"), None);
        assert_eq!(format!("{secret:?}"), "CodeSecret(..)");
        assert!(!format!("{:?}", CheckInCode { secret, period_secs: 15 }).contains("ab"));
    }
}
