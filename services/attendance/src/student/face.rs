//! Option 3's second half: hand the selfie to the face gateway (through
//! verification-service) and queue the job, as the seeds describe.

use attn_domain::{
    FailCode,
    face::{next_poll_delay_ms, submission_key},
};
use attn_proto::internal::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason, reason_of};
use attn_store::face_queue::FaceJob;
use tonic::Code;
use uuid::Uuid;

use crate::context::Context;

pub enum Submission {
    /// The check-in fails with this code (the student may retry).
    Refused(FailCode),
    /// Submitted and queued: the record waits for this job.
    Queued(String),
}

/// `selfie`: the image bytes, already checked to be a JPEG or PNG within
/// the limit, or None when the student sent none. `request_id`: the
/// Attend's, which makes a resent Attend reuse the gateway job it made.
pub async fn submit(
    ctx: &Context,
    caller: &Caller,
    attendance_id: Uuid,
    selfie: Option<Vec<u8>>,
    request_id: Option<&str>,
) -> ApiResult<Submission> {
    let student = caller.school_number();
    let Some(selfie) = selfie else {
        return Ok(Submission::Refused(FailCode::FaceVerificationRequiredButImagesMissing));
    };
    let Some(photo_url) = caller.sign_in.photo_url.clone() else {
        return Ok(Submission::Refused(FailCode::ReferenceImageNotFound));
    };
    let submitted = ctx
        .verification
        .clone()
        .submit_face_check(pb::SubmitFaceCheckRequest {
            student_number: student.to_owned(),
            attendance_id: attendance_id.to_string(),
            selfie,
            reference_photo: Vec::new(),
            reference_photo_url: photo_url,
            idempotency_key: match request_id {
                Some(request_id) => submission_key(student, &attendance_id.to_string(), request_id),
                None => Uuid::new_v4().to_string(),
            },
        })
        .await;
    let job_id = match submitted {
        Ok(response) => response.into_inner().job_id,
        // The reason code; the message prefix from a verification-service that predates codes.
        Err(status)
            if reason_of(&status) == Some(Reason::ReferenceImageNotFound)
                || (status.code() == Code::FailedPrecondition
                    && status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND")) =>
        {
            return Ok(Submission::Refused(FailCode::ReferenceImageNotFound));
        }
        // The selfie itself is wrong: the student can fix that.
        Err(status) if status.code() == Code::InvalidArgument => return Err(ApiError::from(status)),
        Err(status) => {
            tracing::warn!(%student, %attendance_id, code = ?status.code(), message = %status.message(), "face check submission failed");
            return Ok(Submission::Refused(FailCode::FaceVerificationSubmissionFailed));
        }
    };
    // Queue first, record second: a crash in between leaves a job whose
    // record never went pending, which the poller drops; the other order
    // could leave a record pending with nobody asking about it.
    let now = ctx.now_ms();
    let job = FaceJob {
        attendance_id,
        student_number: student.to_owned(),
        job_id: job_id.clone(),
        submitted_ms: now,
        errors: 0,
        // In the same write: the sweeper that finishes the check joins its trace.
        traceparent: attn_telemetry::current_traceparent(),
    };
    ctx.face_queue.put(&job, now + next_poll_delay_ms(0)).await?;
    Ok(Submission::Queued(job_id))
}
