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
    /// `GET /results` answers PENDING for ever: a gateway that lost the job.
    Stuck,
}

/// How `POST /submit-job` misbehaves on a student's first submission; later
/// ones are answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitFault {
    None,
    /// `submit503`: HTTP 503 without taking the job (safe to retry).
    Unavailable,
    /// `submit500`: takes the job, then answers HTTP 500 (a retry without
    /// an idempotency key would make a second job).
    TakenThenError,
    /// `slowsubmit`: takes the job, then answers only after the slow delay.
    TakenThenLate,
}

/// One job's outcome, whether it takes the slow delay, and how its first
/// submission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub outcome: Outcome,
    pub slow: bool,
    pub submit: SubmitFault,
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
            ("stuck", Outcome::Stuck),
        ]
        .into_iter()
        .find(|(word, _)| number.contains(word))
        .map_or(Outcome::Match, |(_, outcome)| outcome);
        let submit = [
            ("submit503", SubmitFault::Unavailable),
            ("submit500", SubmitFault::TakenThenError),
            ("slowsubmit", SubmitFault::TakenThenLate),
        ]
        .into_iter()
        .find(|(word, _)| number.contains(word))
        .map_or(SubmitFault::None, |(_, fault)| fault);
        // `slowphoto` and `slowsubmit` are slow at one step, not in the job.
        let slow = number.replace("slowphoto", "").replace("slowsubmit", "").contains("slow");
        Self { outcome, slow, submit }
    }
}

/// Demo students without a reference photo.
pub fn has_photo(school_number: &str) -> bool {
    !school_number.to_ascii_lowercase().contains("nophoto")
}

/// `slowphoto` students' reference photos come only after the slow delay.
pub fn photo_is_slow(school_number: &str) -> bool {
    school_number.to_ascii_lowercase().contains("slowphoto")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_number_is_a_quick_match() {
        assert_eq!(
            Plan::for_student("20231001"),
            Plan { outcome: Outcome::Match, slow: false, submit: SubmitFault::None }
        );
    }

    #[test]
    fn words_in_the_number_pick_the_outcome() {
        assert_eq!(Plan::for_student("s-mismatch-1").outcome, Outcome::Mismatch);
        assert_eq!(Plan::for_student("ERROR7").outcome, Outcome::ServerError);
        assert_eq!(Plan::for_student("flaky.2").outcome, Outcome::Flaky);
        assert_eq!(Plan::for_student("garbage").outcome, Outcome::Garbage);
        assert_eq!(Plan::for_student("reject-me").outcome, Outcome::Reject);
        assert_eq!(Plan::for_student("s_stuck_1").outcome, Outcome::Stuck);
    }

    #[test]
    fn submit_words_pick_how_the_first_submission_goes() {
        assert_eq!(Plan::for_student("s_submit503_1").submit, SubmitFault::Unavailable);
        assert_eq!(Plan::for_student("s_submit500_1").submit, SubmitFault::TakenThenError);
        assert_eq!(Plan::for_student("s_slowsubmit_1").submit, SubmitFault::TakenThenLate);
        assert_eq!(Plan::for_student("s_mismatch_1").submit, SubmitFault::None);
    }

    #[test]
    fn slowphoto_and_slowsubmit_do_not_slow_the_job() {
        assert!(!Plan::for_student("s_slowphoto_1").slow);
        assert!(!Plan::for_student("s_slowsubmit_1").slow);
        assert!(Plan::for_student("s_slowsubmit_slow_1").slow);
        assert!(photo_is_slow("s_SlowPhoto_1"));
        assert!(!photo_is_slow("s_slow_1"));
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
