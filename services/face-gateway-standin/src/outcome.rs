//! How the stand-in picks a job's outcome: from words in the student number,
//! so one test (or one demo account) can ask for each case the contract allows.

/// The reason a `mismatch` job fails with, as a real gateway would word it.
pub const MISMATCH_REASON: &str = "the selfie does not match the reference photo";

/// How many times a `flaky` job answers 500 before it answers properly.
pub const FLAKY_FAILURES: u32 = 2;

/// What the gateway does with one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// SUCCESS, verified.
    Match,
    /// FAILURE, not verified, with [`MISMATCH_REASON`].
    Mismatch,
    /// `GET /results` always answers HTTP 500.
    ServerError,
    /// `GET /results` answers HTTP 500 [`FLAKY_FAILURES`] times, then as a match.
    Flaky,
    /// `GET /results` answers 200 with a body that is not JSON.
    Garbage,
    /// `POST /submit-job` refuses the job with HTTP 422.
    Reject,
}

/// One job's outcome and whether it takes the slow delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub outcome: Outcome,
    pub slow: bool,
}

impl Plan {
    pub fn for_student(school_number: &str) -> Self {
        let number = school_number.to_ascii_lowercase();
        // Order matters only for numbers with several words; the failure
        // closest to the caller wins.
        let outcome = [
            ("reject", Outcome::Reject),
            ("error", Outcome::ServerError),
            ("flaky", Outcome::Flaky),
            ("garbage", Outcome::Garbage),
            ("mismatch", Outcome::Mismatch),
        ]
        .into_iter()
        .find(|(word, _)| number.contains(word))
        .map_or(Outcome::Match, |(_, outcome)| outcome);
        Self { outcome, slow: number.contains("slow") }
    }
}

/// Demo students without a reference photo.
pub fn has_photo(school_number: &str) -> bool {
    !school_number.to_ascii_lowercase().contains("nophoto")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_number_is_a_quick_match() {
        assert_eq!(Plan::for_student("20231001"), Plan { outcome: Outcome::Match, slow: false });
    }

    #[test]
    fn words_in_the_number_pick_the_outcome() {
        assert_eq!(Plan::for_student("s-mismatch-1").outcome, Outcome::Mismatch);
        assert_eq!(Plan::for_student("ERROR7").outcome, Outcome::ServerError);
        assert_eq!(Plan::for_student("flaky.2").outcome, Outcome::Flaky);
        assert_eq!(Plan::for_student("garbage").outcome, Outcome::Garbage);
        assert_eq!(Plan::for_student("reject-me").outcome, Outcome::Reject);
    }

    #[test]
    fn slow_combines_with_an_outcome() {
        let plan = Plan::for_student("slow-mismatch");
        assert_eq!(plan.outcome, Outcome::Mismatch);
        assert!(plan.slow);
    }

    #[test]
    fn nophoto_students_have_no_reference_photo() {
        assert!(has_photo("20231001"));
        assert!(!has_photo("s-NoPhoto-3"));
    }
}
