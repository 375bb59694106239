//! Why a record failed, as a code a client can switch on.
//!
//! The record's `fail_reason` stays the human text (the seeds' words, the
//! gateway's reason, or a teacher's own words); the code is stored beside it
//! when the record is written, never parsed back out of the text, so a
//! teacher who types "WIFI_FAILED: spoof" as a reason still gives
//! [`FailCode::TeacherDecision`].
//!
//! A check that is still running is not a failure: a pending record has no
//! code, and clients read that state from its status.

use serde::{Deserialize, Serialize};

use crate::record::fail_reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailCode {
    /// The client address is outside every allowed network.
    WifiFailed,
    /// The session checks the network and no client address was known.
    WifiRequiredButIpMissing,
    /// Option 3 and the check-in carried no selfie.
    FaceVerificationRequiredButImagesMissing,
    /// The face gateway could not take the selfie.
    FaceVerificationSubmissionFailed,
    /// The student has no roster photo to compare with.
    ReferenceImageNotFound,
    /// The face gateway did not match the selfie (its words follow in the text).
    FaceVerificationFailed,
    /// The face gateway gave no verdict in time.
    FaceVerificationTimedOut,
    /// A teacher failed the student; the text is the teacher's own words.
    TeacherDecision,
    /// The session asks for the rotating check-in code and the check-in
    /// carried none, a wrong one or a stale one; the student may retry with
    /// the code shown now.
    CheckInCodeInvalid,
}

impl FailCode {
    pub const ALL: [FailCode; 9] = [
        Self::WifiFailed,
        Self::WifiRequiredButIpMissing,
        Self::FaceVerificationRequiredButImagesMissing,
        Self::FaceVerificationSubmissionFailed,
        Self::ReferenceImageNotFound,
        Self::FaceVerificationFailed,
        Self::FaceVerificationTimedOut,
        Self::TeacherDecision,
        Self::CheckInCodeInvalid,
    ];

    /// The code's name, as kept in Redis, in the archive's `fail_code`
    /// column and (with the `FAIL_CODE_` prefix) in `attn.v1.FailCode`. For
    /// the system's codes it is also the seeds' fail reason text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WifiFailed => fail_reason::WIFI_FAILED,
            Self::WifiRequiredButIpMissing => fail_reason::WIFI_REQUIRED_BUT_IP_MISSING,
            Self::FaceVerificationRequiredButImagesMissing => {
                fail_reason::FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING
            }
            Self::FaceVerificationSubmissionFailed => fail_reason::FACE_VERIFICATION_SUBMISSION_FAILED,
            Self::ReferenceImageNotFound => fail_reason::REFERENCE_IMAGE_NOT_FOUND,
            Self::FaceVerificationFailed => fail_reason::FACE_VERIFICATION_FAILED,
            Self::FaceVerificationTimedOut => fail_reason::FACE_VERIFICATION_TIMED_OUT,
            Self::TeacherDecision => "TEACHER_DECISION",
            Self::CheckInCodeInvalid => fail_reason::CHECK_IN_CODE_INVALID,
        }
    }

    /// The code named exactly `name` (see [`FailCode::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// The code of a reason the system wrote (`WIFI_FAILED`,
    /// `FACE_VERIFICATION_FAILED: <the gateway's words>`, ...). Only for
    /// text known to come from the system, such as verification-service's
    /// network verdict: a teacher's words may look the same.
    pub fn of_system_reason(reason: &str) -> Option<Self> {
        let name = reason.split(':').next().unwrap_or_default().trim();
        Self::parse(name).filter(|code| *code != Self::TeacherDecision)
    }

    /// The best guess for a record written before codes were stored, from
    /// what the record itself says; `None` for no failure (no reason, or a
    /// face check still pending).
    ///
    /// A teacher's decision is certain when the record is the teacher's
    /// (`by_teacher`) and not deleted: accepting clears the reason and
    /// deleting sets `is_deleted`, so only a teacher's fail leaves both.
    /// A deleted record keeps the reason it had before, which may be the
    /// system's or a teacher's; the text decides there, and free text that
    /// names no system code can only be a teacher's.
    pub fn of_unmarked_record(fail_reason: Option<&str>, by_teacher: bool, is_deleted: bool) -> Option<Self> {
        let reason = fail_reason?;
        if by_teacher && !is_deleted {
            return Some(Self::TeacherDecision);
        }
        if reason == fail_reason::FACE_RECOGNITION_PENDING {
            return None;
        }
        Some(Self::of_system_reason(reason).unwrap_or(Self::TeacherDecision))
    }
}

impl std::fmt::Display for FailCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_from_its_name() {
        for code in FailCode::ALL {
            assert_eq!(FailCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(FailCode::parse("wifi_failed"), None);
        assert_eq!(FailCode::parse("FACE_RECOGNITION_PENDING"), None, "pending is a status, not a failure");
    }

    #[test]
    fn a_wrong_check_in_code_has_its_own_name() {
        assert_eq!(FailCode::CheckInCodeInvalid.as_str(), "CHECK_IN_CODE_INVALID");
        assert_eq!(FailCode::parse("CHECK_IN_CODE_INVALID"), Some(FailCode::CheckInCodeInvalid));
        assert_eq!(FailCode::CheckInCodeInvalid.to_string(), "CHECK_IN_CODE_INVALID");
    }

    #[test]
    fn names_in_json_are_the_same_as_in_the_archive() {
        for code in FailCode::ALL {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn a_system_reason_gives_its_code_with_or_without_the_gateways_words() {
        assert_eq!(FailCode::of_system_reason("WIFI_FAILED"), Some(FailCode::WifiFailed));
        assert_eq!(
            FailCode::of_system_reason("FACE_VERIFICATION_FAILED: faces do not match"),
            Some(FailCode::FaceVerificationFailed)
        );
        assert_eq!(FailCode::of_system_reason("CHECK_IN_CODE_INVALID"), Some(FailCode::CheckInCodeInvalid));
        assert_eq!(FailCode::of_system_reason("left early"), None);
        assert_eq!(FailCode::of_system_reason("TEACHER_DECISION"), None, "never the system's");
    }

    #[test]
    fn an_unmarked_teachers_fail_is_a_teacher_decision_whatever_it_says() {
        assert_eq!(
            FailCode::of_unmarked_record(Some("WIFI_FAILED: spoof"), true, false),
            Some(FailCode::TeacherDecision)
        );
        assert_eq!(FailCode::of_unmarked_record(Some("left early"), true, false), Some(FailCode::TeacherDecision));
        assert_eq!(
            FailCode::of_unmarked_record(Some("FACE_RECOGNITION_PENDING"), true, false),
            Some(FailCode::TeacherDecision),
            "a teacher's words, even these"
        );
    }

    #[test]
    fn an_unmarked_system_failure_gets_its_code_from_the_text() {
        assert_eq!(FailCode::of_unmarked_record(Some("WIFI_FAILED"), false, false), Some(FailCode::WifiFailed));
        assert_eq!(
            FailCode::of_unmarked_record(Some("FACE_VERIFICATION_TIMED_OUT"), false, false),
            Some(FailCode::FaceVerificationTimedOut)
        );
    }

    #[test]
    fn an_unmarked_deleted_record_falls_back_on_the_text() {
        assert_eq!(FailCode::of_unmarked_record(Some("WIFI_FAILED"), true, true), Some(FailCode::WifiFailed));
        assert_eq!(FailCode::of_unmarked_record(Some("absent"), true, true), Some(FailCode::TeacherDecision));
    }

    #[test]
    fn no_reason_or_a_pending_check_has_no_code() {
        assert_eq!(FailCode::of_unmarked_record(None, true, false), None);
        assert_eq!(FailCode::of_unmarked_record(Some("FACE_RECOGNITION_PENDING"), false, false), None);
        assert_eq!(FailCode::of_unmarked_record(Some("FACE_RECOGNITION_PENDING"), true, true), None);
    }
}
