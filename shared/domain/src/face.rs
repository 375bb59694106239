//! When to ask the face gateway again about a job.
//!
//! Most jobs finish within a second or two, and a student is watching their
//! phone: ask often at first, then back off so that a slow or stuck gateway
//! is not hammered. Errors back off separately and harder, and after
//! `max_errors` the check-in fails with a clear reason instead of waiting for ever.

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

#[cfg(test)]
mod tests {
    use super::*;

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
