//! When to ask the face gateway again about a job.
//!
//! Most jobs finish within a second or two, and a student is watching their
//! phone: ask often at first, then back off so that a slow or stuck gateway
//! is not hammered. Errors back off separately and harder, and after
//! `max_errors` the check-in fails with a clear reason instead of waiting for
//! ever; so does a job still unfinished `max_age` after it was submitted.

use sha2::{Digest, Sha256};

/// Delay before the next look at a job submitted `age_ms` ago.
pub fn next_poll_delay_ms(age_ms: i64) -> i64 {
    match age_ms {
        ..2_000 => 100,
        2_000..10_000 => 250,
        10_000..60_000 => 1_000,
        _ => 5_000,
    }
}

/// Delay before retrying after the `errors`-th consecutive error: 1 s, 2 s, 4 s … up to 30 s.
pub fn error_retry_delay_ms(errors: u32) -> i64 {
    1_000i64.saturating_mul(1 << errors.saturating_sub(1).min(5)).min(30_000)
}

/// The idempotency key of a check-in's face submission: a resent Attend
/// (same student, session and request id) gets the same key, so the gateway
/// answers with the job it already made instead of making a second.
pub fn submission_key(student: &str, attendance_id: &str, request_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{student}|{attendance_id}|{request_id}")))
}

/// Has a job waited too long for a verdict? Then its check-in fails as
/// timed out, and the student may try again.
pub fn too_old(age_ms: i64, max_age_ms: i64) -> bool {
    age_ms >= max_age_ms
}

/// When to look at a job next: `delay_ms` from now, but no later than the
/// moment it becomes too old, so a stuck job fails on time.
pub fn next_look_at_ms(now_ms: i64, delay_ms: i64, submitted_ms: i64, max_age_ms: i64) -> i64 {
    now_ms.saturating_add(delay_ms).min(submitted_ms.saturating_add(max_age_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resent_check_in_gets_the_same_submission_key_and_another_a_different_one() {
        let key = submission_key("s1", "0190e7c4-5b1e-7000-8000-000000000001", "r-1");
        assert_eq!(key, submission_key("s1", "0190e7c4-5b1e-7000-8000-000000000001", "r-1"));
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(key, submission_key("s1", "0190e7c4-5b1e-7000-8000-000000000001", "r-2"));
        assert_ne!(key, submission_key("s2", "0190e7c4-5b1e-7000-8000-000000000001", "r-1"));
    }

    #[test]
    fn a_job_is_too_old_from_its_max_age_on() {
        assert!(!too_old(299_999, 300_000));
        assert!(too_old(300_000, 300_000));
    }

    #[test]
    fn the_next_look_never_comes_after_the_job_is_too_old() {
        assert_eq!(next_look_at_ms(1_000, 100, 0, 300_000), 1_100);
        assert_eq!(next_look_at_ms(299_000, 5_000, 0, 300_000), 300_000);
    }

    #[test]
    fn fresh_jobs_are_polled_every_tenth_of_a_second_then_less_often() {
        assert_eq!(next_poll_delay_ms(0), 100);
        assert_eq!(next_poll_delay_ms(1_999), 100);
        assert_eq!(next_poll_delay_ms(5_000), 250);
        assert_eq!(next_poll_delay_ms(30_000), 1_000);
        assert_eq!(next_poll_delay_ms(3_600_000), 5_000);
    }

    #[test]
    fn error_retries_back_off_to_thirty_seconds() {
        assert_eq!(error_retry_delay_ms(1), 1_000);
        assert_eq!(error_retry_delay_ms(2), 2_000);
        assert_eq!(error_retry_delay_ms(3), 4_000);
        assert_eq!(error_retry_delay_ms(6), 30_000);
        assert_eq!(error_retry_delay_ms(60), 30_000);
    }
}
