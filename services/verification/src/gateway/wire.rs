//! The gateway's JSON answers, read strictly: every way an answer can break
//! the contract is its own [`GatewayError`], so logs say exactly what the
//! gateway got wrong.

use serde_json::{Map, Value};

use super::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    InProgress,
    Success,
    Failure,
}

impl JobStatus {
    fn parse(text: &str) -> Result<Self, GatewayError> {
        match text {
            "PENDING" => Ok(Self::Pending),
            "IN_PROGRESS" => Ok(Self::InProgress),
            "SUCCESS" => Ok(Self::Success),
            "FAILURE" => Ok(Self::Failure),
            other => Err(GatewayError::UnknownStatus { status: other.chars().take(64).collect() }),
        }
    }
}

/// `GET /results/{job_id}`, as ATTN understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    pub status: JobStatus,
    pub verified: bool,
    /// Empty when the gateway gave none (it may omit it while pending).
    pub reason: String,
    /// When the job became final (unix ms), if the gateway says; the
    /// stand-in does, the contract does not require it.
    pub finished_at_ms: Option<i64>,
}

/// `202 {"job_id": "…"}` → the job id.
pub fn parse_submitted(body: &[u8]) -> Result<String, GatewayError> {
    let answer = object(body)?;
    let job_id = string_field(&answer, "job_id")?;
    if job_id.trim().is_empty() {
        return Err(GatewayError::WrongType { field: "job_id", expected: "a non-empty string" });
    }
    Ok(job_id.to_owned())
}

/// `{"status": …, "verified": bool, "reason": "…"}` → a [`JobResult`].
/// `status` and `verified` are required; `reason` may be absent or null.
pub fn parse_result(body: &[u8]) -> Result<JobResult, GatewayError> {
    let answer = object(body)?;
    let status = JobStatus::parse(string_field(&answer, "status")?)?;
    let verified = match answer.get("verified") {
        None | Some(Value::Null) => return Err(GatewayError::MissingField { field: "verified" }),
        Some(value) => {
            value.as_bool().ok_or(GatewayError::WrongType { field: "verified", expected: "true or false" })?
        }
    };
    let reason = match answer.get("reason") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(reason)) => reason.clone(),
        Some(_) => {
            return Err(GatewayError::WrongType { field: "reason", expected: "a string" });
        }
    };
    Ok(JobResult { status, verified, reason, finished_at_ms: answer.get("finished_at_ms").and_then(Value::as_i64) })
}

fn object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GatewayError::NotJson { detail: "the answer is JSON but not an object".into() }),
        Err(err) => Err(GatewayError::NotJson { detail: err.to_string() }),
    }
}

fn string_field<'a>(answer: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, GatewayError> {
    match answer.get(field) {
        None | Some(Value::Null) => Err(GatewayError::MissingField { field }),
        Some(value) => value.as_str().ok_or(GatewayError::WrongType { field, expected: "a string" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_answer_gives_the_job_id() {
        assert_eq!(parse_submitted(br#"{"job_id": "j-42"}"#).unwrap(), "j-42");
    }

    #[test]
    fn a_submission_answer_without_a_usable_job_id_is_an_error() {
        assert!(matches!(parse_submitted(br#"{"id": "j-42"}"#), Err(GatewayError::MissingField { field: "job_id" })));
        assert!(matches!(parse_submitted(br#"{"job_id": 42}"#), Err(GatewayError::WrongType { field: "job_id", .. })));
        assert!(matches!(parse_submitted(br#"{"job_id": " "}"#), Err(GatewayError::WrongType { field: "job_id", .. })));
    }

    #[test]
    fn each_contract_status_is_read() {
        for (text, status) in [
            ("PENDING", JobStatus::Pending),
            ("IN_PROGRESS", JobStatus::InProgress),
            ("SUCCESS", JobStatus::Success),
            ("FAILURE", JobStatus::Failure),
        ] {
            let body = format!(r#"{{"status": "{text}", "verified": false, "reason": ""}}"#);
            assert_eq!(parse_result(body.as_bytes()).unwrap().status, status);
        }
    }

    #[test]
    fn a_failure_keeps_the_gateway_reason_and_finish_time() {
        let result =
            parse_result(br#"{"status":"FAILURE","verified":false,"reason":"no match","finished_at_ms":17}"#).unwrap();
        assert_eq!(
            result,
            JobResult {
                status: JobStatus::Failure,
                verified: false,
                reason: "no match".into(),
                finished_at_ms: Some(17),
            }
        );
    }

    #[test]
    fn a_missing_reason_is_empty() {
        let result = parse_result(br#"{"status":"PENDING","verified":false}"#).unwrap();
        assert_eq!(result.reason, "");
        assert_eq!(result.finished_at_ms, None);
    }

    #[test]
    fn html_is_not_json() {
        assert!(matches!(parse_result(b"<html>502 Bad Gateway</html>"), Err(GatewayError::NotJson { .. })));
        assert!(matches!(parse_result(b"[1, 2]"), Err(GatewayError::NotJson { .. })));
    }

    #[test]
    fn an_unknown_status_is_an_error() {
        assert!(matches!(
            parse_result(br#"{"status":"DONE","verified":true}"#),
            Err(GatewayError::UnknownStatus { status }) if status == "DONE"
        ));
    }

    #[test]
    fn missing_or_mistyped_fields_are_named() {
        assert!(matches!(parse_result(br#"{"verified":true}"#), Err(GatewayError::MissingField { field: "status" })));
        assert!(matches!(
            parse_result(br#"{"status":"SUCCESS"}"#),
            Err(GatewayError::MissingField { field: "verified" })
        ));
        assert!(matches!(
            parse_result(br#"{"status":"SUCCESS","verified":"yes"}"#),
            Err(GatewayError::WrongType { field: "verified", .. })
        ));
        assert!(matches!(
            parse_result(br#"{"status":"SUCCESS","verified":true,"reason":5}"#),
            Err(GatewayError::WrongType { field: "reason", .. })
        ));
    }
}
