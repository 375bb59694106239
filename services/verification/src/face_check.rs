//! SubmitFaceCheck and GetFaceCheck: check the input, find the reference
//! photo, and hand over to the face gateway.

use attn_domain::{Invalid, selfie::check_selfie, validate};
use attn_proto::internal::v1::{FaceCheckStatus, GetFaceCheckResponse, SubmitFaceCheckRequest};
use attn_runtime::{ApiError, ApiResult};
use bytes::Bytes;
use reqwest::Url;
use tokio::time::Instant;

use crate::gateway::{FaceGateway, GatewayError, Image, JobResult, JobStatus};

/// Job ids come back from callers; a real one is far shorter than this.
const MAX_JOB_ID_CHARS: usize = 256;
/// A SHA-256 in hex is 64; room for a caller's own scheme, not for a payload.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// Face checks, or their absence when no gateway is configured.
#[derive(Debug, Clone)]
pub struct FaceChecks {
    gateway: Option<FaceGateway>,
    /// `attn_face_gateway_seconds{operation,outcome}`.
    metrics: attn_telemetry::Metrics,
}

pub const GATEWAY_SECONDS: &str = "attn_face_gateway_seconds";

impl FaceChecks {
    pub fn new(gateway: Option<FaceGateway>) -> Self {
        Self { gateway, metrics: attn_telemetry::Metrics::new() }
    }

    /// Times the calls to the gateway in `metrics`.
    pub fn measured(self, metrics: attn_telemetry::Metrics) -> Self {
        metrics
            .describe_histogram(GATEWAY_SECONDS, "Calls to the face gateway (with retries), by operation and outcome");
        Self { metrics, ..self }
    }

    /// Runs one call to the gateway (`operation`: submit, result, photo), timed.
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let started = std::time::Instant::now();
        let result = call.await;
        let outcome = result.as_ref().map_or_else(GatewayError::label, |_| "ok");
        self.metrics
            .histogram(GATEWAY_SECONDS, &[("operation", operation), ("outcome", outcome)])
            .record(started.elapsed().as_secs_f64());
        result
    }

    pub fn enabled(&self) -> bool {
        self.gateway.is_some()
    }

    fn gateway(&self) -> Result<&FaceGateway, GatewayError> {
        self.gateway.as_ref().ok_or(GatewayError::NotConfigured)
    }

    /// Submits a job; its id. The photo download and the submission, with
    /// their retries, end by `deadline`.
    pub async fn submit(&self, request: SubmitFaceCheckRequest, deadline: Instant) -> ApiResult<String> {
        let gateway = self.gateway()?;
        let student = validate::school_number("student_number", &request.student_number)?;
        let limit = gateway.max_image_bytes();
        let selfie = image(request.selfie.into(), limit, "selfie")?
            .ok_or_else(|| Invalid::new("selfie", "is required for a face check"))?;
        let reference = image(request.reference_photo.into(), limit, "reference_photo")?;
        let key = idempotency_key(&request.idempotency_key)?;
        let fetch_and_submit = async {
            let reference = match reference {
                Some(reference) => reference,
                None => fetch_reference(self, gateway, request.reference_photo_url.trim(), limit, deadline).await?,
            };
            Ok::<_, ApiError>(
                self.timed("submit", gateway.submit_job(&student, &selfie, &reference, &key, deadline)).await?,
            )
        };
        // Each step already stops at the deadline; this makes sure of it.
        let submitted = tokio::time::timeout_at(deadline, fetch_and_submit)
            .await
            .unwrap_or_else(|_| Err(GatewayError::OutOfTime.into()));
        let job_id = submitted.inspect_err(|err| {
            tracing::warn!(%student, attendance_id = %request.attendance_id, error = %err, "face check not submitted");
        })?;
        tracing::info!(%student, attendance_id = %request.attendance_id, %job_id, "face check submitted");
        Ok(job_id)
    }

    /// Reads a job's result from the gateway, by `deadline`.
    pub async fn result(&self, job_id: &str, deadline: Instant) -> ApiResult<GetFaceCheckResponse> {
        let gateway = self.gateway()?;
        let job_id = job_id.trim();
        if job_id.is_empty() || job_id.chars().count() > MAX_JOB_ID_CHARS {
            return Err(Invalid::new("job_id", format!("must be 1 to {MAX_JOB_ID_CHARS} characters")).into());
        }
        let result = self.timed("result", gateway.job_result(job_id, deadline)).await?;
        tracing::debug!(%job_id, status = ?result.status, "face check result read");
        Ok(to_response(result))
    }
}

/// The caller's key, or a fresh one: every attempt at this submission
/// carries it. It becomes an HTTP header, so printable ASCII only.
fn idempotency_key(key: &str) -> Result<String, Invalid> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Invalid::new(
            "idempotency_key",
            format!("must be at most {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

/// Checks an image with the selfie rules, naming `field` in any error.
fn image(bytes: Bytes, limit: usize, field: &'static str) -> Result<Option<Image>, Invalid> {
    let kind = check_selfie(&bytes, limit).map_err(|err| Invalid::new(field, err.message))?;
    Ok(kind.map(|kind| Image { bytes, kind }))
}

async fn fetch_reference(
    checks: &FaceChecks,
    gateway: &FaceGateway,
    url: &str,
    limit: usize,
    deadline: Instant,
) -> ApiResult<Image> {
    if url.is_empty() {
        return Err(GatewayError::NoReferencePhoto.into());
    }
    let url = Url::parse(url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| Invalid::new("reference_photo_url", "must be an http:// or https:// URL"))?;
    let bytes = checks.timed("photo", gateway.fetch_reference_photo(&url, deadline)).await?;
    image(bytes, limit, "reference_photo_url")?.ok_or_else(|| {
        ApiError::from(GatewayError::ReferencePhotoMissing { detail: "answered with an empty body".into() })
    })
}

fn to_response(result: JobResult) -> GetFaceCheckResponse {
    let status = match result.status {
        JobStatus::Pending => FaceCheckStatus::Pending,
        JobStatus::InProgress => FaceCheckStatus::InProgress,
        JobStatus::Success => FaceCheckStatus::Success,
        JobStatus::Failure => FaceCheckStatus::Failure,
    };
    GetFaceCheckResponse {
        status: status.into(),
        verified: result.verified,
        reason: result.reason,
        gateway_finished_at_ms: result.finished_at_ms.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gateway_status_maps_to_its_proto_status() {
        for (status, proto) in [
            (JobStatus::Pending, FaceCheckStatus::Pending),
            (JobStatus::InProgress, FaceCheckStatus::InProgress),
            (JobStatus::Success, FaceCheckStatus::Success),
            (JobStatus::Failure, FaceCheckStatus::Failure),
        ] {
            let response = to_response(JobResult {
                status,
                verified: status == JobStatus::Success,
                reason: "why".into(),
                finished_at_ms: None,
            });
            assert_eq!(response.status(), proto);
            assert_eq!(response.verified, status == JobStatus::Success);
            assert_eq!(response.reason, "why");
            assert_eq!(response.gateway_finished_at_ms, 0);
        }
    }

    #[test]
    fn image_errors_name_the_field_they_came_from() {
        let err = image(Bytes::from_static(b"just text"), 100, "reference_photo").unwrap_err();
        assert_eq!(err.field, "reference_photo");
        let err = image(Bytes::from(vec![0xFF; 101]), 100, "reference_photo_url").unwrap_err();
        assert_eq!(err.field, "reference_photo_url");
        assert!(image(Bytes::new(), 100, "selfie").unwrap().is_none());
    }

    #[test]
    fn a_callers_idempotency_key_is_kept_and_a_missing_one_made_up() {
        assert_eq!(idempotency_key(" attend-key-1 ").unwrap(), "attend-key-1");
        let made_up = idempotency_key("").unwrap();
        assert_eq!(made_up.len(), 36);
        assert_ne!(made_up, idempotency_key("").unwrap());
    }

    #[test]
    fn an_idempotency_key_that_cannot_be_a_header_is_invalid() {
        for bad in ["has space", "new\nline", &"k".repeat(129)] {
            assert_eq!(idempotency_key(bad).unwrap_err().field, "idempotency_key", "{bad:?}");
        }
    }

    #[tokio::test]
    async fn without_a_gateway_face_checks_are_refused_plainly() {
        let checks = FaceChecks::new(None);
        assert!(!checks.enabled());
        let err = checks.result("j1", Instant::now()).await.unwrap_err();
        assert_eq!(err.reason(), attn_runtime::Reason::FaceChecksOff);
        assert!(err.message().starts_with("no face gateway is configured"), "{}", err.message());
    }
}
