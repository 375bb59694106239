//! `check_face_verification_results`: finish pending check-ins with the
//! face gateway's verdict, as the seeds describe.
//!
//! For each queued job that is due, ask verification-service (which asks
//! the gateway): SUCCESS → attended now; FAILURE → `FACE_VERIFICATION_FAILED:
//! <reason>`; PENDING or IN_PROGRESS → look again soon; an error → look
//! again later, and after `face_max_errors` in a row fail the check-in with
//! a clear reason. A job with no verdict `face_max_age` after it was
//! submitted (still pending, or still erroring) fails its check-in as
//! `FACE_VERIFICATION_TIMED_OUT`, which the student may retry. A job whose
//! record is gone or no longer waits for it is dropped. A result for a
//! session already archived updates the archive.
//!
//! The scheduler runs a round every minute (the durable path, the seeds'
//! cron); the fast path runs a round every `ATTN_FACE_POLL_INTERVAL_MS`,
//! and jobs are due a look within 100 ms of being submitted, so a verdict
//! reaches the record (and the student's `WatchMyRecord`) within about a
//! tenth of a second of the gateway having it.

use attn_domain::{
    AuditEntry, Record,
    audit::snapshot_of,
    face::{error_retry_delay_ms, next_look_at_ms, next_poll_delay_ms, too_old},
};
use attn_proto::internal::v1::{FaceCheckStatus, GetFaceCheckRequest};
use attn_store::{
    StoreError,
    edit::{Attempt, LeftLive, edit_live_or_archived},
    face_queue::FaceJob,
    live::WriteOutcome,
};
use futures::StreamExt;
use tonic::Code;
use tracing::Instrument as _;

use super::{Deps, Summary};

/// Gateway calls in flight at once.
const CONCURRENT_CHECKS: usize = 32;

enum Verdict {
    Verified,
    Failed(String),
    /// No verdict within the job's maximum age.
    TimedOut,
}

enum Checked {
    Verified,
    Failed,
    TimedOut,
    StillPending,
    Error,
    /// The record no longer waits for this job (gone, or finished another way).
    Dropped,
}

pub async fn check_face_verification_results(deps: &Deps) -> Summary {
    let mut summary = Summary::default();
    let now = deps.clock.now_ms();
    let due = match deps.face_queue.due(now, deps.settings.batch_size).await {
        Ok(due) => due,
        Err(err) => {
            summary.fail_round(&err);
            return summary;
        }
    };
    let mut jobs = Vec::with_capacity(due.len());
    for entry in due {
        match entry {
            Ok(job) => jobs.push(job),
            Err((member, err)) => {
                tracing::error!(%member, error = %err, "unreadable face job; looking again in a minute");
                summary.fail_item(format!("{member}: {err}"));
                if let Err(err) = deps.face_queue.postpone(&member, now + 60_000).await {
                    summary.fail_round(&err);
                    return summary;
                }
            }
        }
    }
    if jobs.is_empty() {
        return summary;
    }
    summary.add("jobs_checked", jobs.len() as u64);
    let mut results = futures::stream::iter(jobs)
        .map(|job| async move {
            let result = check_one(deps, &job).instrument(check_span(&job)).await;
            (job, result)
        })
        .buffer_unordered(CONCURRENT_CHECKS);
    while let Some((job, result)) = results.next().await {
        match result {
            Ok(Checked::Verified) => summary.add("verified", 1),
            Ok(Checked::Failed) => summary.add("failed", 1),
            Ok(Checked::TimedOut) => summary.add("timed_out", 1),
            Ok(Checked::StillPending) => summary.add("still_pending", 1),
            Ok(Checked::Error) => summary.add("gateway_errors", 1),
            Ok(Checked::Dropped) => summary.add("dropped", 1),
            Err(err) if err.is_unavailable() => {
                summary.fail_round(&err);
                break;
            }
            Err(err) => {
                tracing::error!(job_id = %job.job_id, attendance_id = %job.attendance_id, error = %err, "could not apply a face result");
                summary.fail_item(format!("job {}: {err}", job.job_id));
            }
        }
    }
    summary
}

/// One look at one job. With the check-in's `traceparent` stored in the
/// job, the look (and the calls it makes to verification-service and the
/// gateway) belongs to the check-in's trace, linked to this round.
fn check_span(job: &FaceJob) -> tracing::Span {
    let span = tracing::info_span!(
        "face_check",
        otel.name = "check_face_verification_results job",
        job_id = %job.job_id,
        attendance_id = %job.attendance_id,
        student = %job.student_number,
    );
    if let Some(traceparent) = &job.traceparent {
        attn_telemetry::join_stored_trace(&span, traceparent);
    }
    span
}

async fn check_one(deps: &Deps, job: &FaceJob) -> Result<Checked, StoreError> {
    let answer = deps.verification.clone().get_face_check(GetFaceCheckRequest { job_id: job.job_id.clone() }).await;
    let now = deps.clock.now_ms();
    let max_age_ms = deps.settings.face_max_age.as_millis() as i64;
    let overdue = too_old(now - job.submitted_ms, max_age_ms);
    let next_look = |delay_ms| next_look_at_ms(now, delay_ms, job.submitted_ms, max_age_ms);
    let verdict = match answer {
        Ok(answer) => {
            let answer = answer.into_inner();
            let reason = |fallback: &str| {
                if answer.reason.trim().is_empty() { fallback.to_owned() } else { answer.reason.clone() }
            };
            match FaceCheckStatus::try_from(answer.status) {
                Ok(FaceCheckStatus::Success) if answer.verified => Verdict::Verified,
                Ok(FaceCheckStatus::Success) => Verdict::Failed(reason("the gateway did not verify the face")),
                Ok(FaceCheckStatus::Failure) => Verdict::Failed(reason("the gateway gave no reason")),
                _ if overdue => Verdict::TimedOut,
                _ => {
                    let next = FaceJob { errors: 0, ..job.clone() };
                    deps.face_queue.put(&next, next_look(next_poll_delay_ms(now - job.submitted_ms))).await?;
                    return Ok(Checked::StillPending);
                }
            }
        }
        Err(status) if status.code() == Code::NotFound => {
            Verdict::Failed("the face gateway has no record of this check".into())
        }
        Err(_) if overdue => Verdict::TimedOut,
        Err(status) if job.errors + 1 >= deps.settings.face_max_errors => {
            tracing::warn!(job_id = %job.job_id, code = ?status.code(), message = %status.message(), "giving up on a face check");
            Verdict::Failed(format!("the face gateway could not give a result after {} attempts", job.errors + 1))
        }
        Err(status) => {
            tracing::info!(job_id = %job.job_id, code = ?status.code(), message = %status.message(), "face check unreadable; will retry");
            let next = FaceJob { errors: job.errors + 1, ..job.clone() };
            deps.face_queue.put(&next, next_look(error_retry_delay_ms(next.errors))).await?;
            return Ok(Checked::Error);
        }
    };
    if matches!(verdict, Verdict::TimedOut) {
        tracing::warn!(job_id = %job.job_id, age_ms = now - job.submitted_ms, "no face verdict in time; the check-in fails as timed out");
    }
    let checked = match verdict {
        Verdict::Verified => Checked::Verified,
        Verdict::Failed(_) => Checked::Failed,
        Verdict::TimedOut => Checked::TimedOut,
    };
    let applied = apply(deps, job, verdict).await?;
    deps.face_queue.remove(job).await?;
    Ok(if applied { checked } else { Checked::Dropped })
}

/// Writes the verdict to the record wherever it is; false if no record
/// waits for this job any more.
async fn apply(deps: &Deps, job: &FaceJob, verdict: Verdict) -> Result<bool, StoreError> {
    let id = job.attendance_id;
    let finish = |record: &Record, now: i64| match &verdict {
        Verdict::Verified => record.face_verified(now),
        Verdict::Failed(reason) => record.face_failed(reason),
        Verdict::TimedOut => record.face_timed_out(),
    };
    let finish = &finish;
    edit_live_or_archived(
        || async move {
            let Some((record, raw)) = deps.live.record(id, &job.student_number).await? else {
                // No record in a live session: none waits for this job.
                return Ok(if deps.live.session(id).await?.is_some() {
                    Attempt::Done(false)
                } else {
                    Attempt::NotLive
                });
            };
            if !record.awaits_face_job(&job.job_id) {
                return Ok(Attempt::Done(false));
            }
            let new = finish(&record, deps.clock.now_ms());
            Ok(match deps.live.write_record(id, Some(&raw), &new, None, None).await? {
                WriteOutcome::Written { .. } => Attempt::Done(true),
                WriteOutcome::Changed => Attempt::Changed,
                // Archived between our read and our write: the archive has it now.
                WriteOutcome::NotFound | WriteOutcome::NotOwner => Attempt::NotLive,
            })
        },
        |left| async move {
            match left {
                LeftLive::NotLive => Ok(()),
                LeftLive::Contended => Err(StoreError::Unavailable {
                    store: "Redis",
                    detail: format!("record {} of {id} kept changing", job.student_number),
                }),
            }
        },
        || apply_archived(deps, job, finish),
    )
    .await
}

/// The session was archived while the check ran: update the archived record.
async fn apply_archived(
    deps: &Deps,
    job: &FaceJob,
    finish: &impl Fn(&Record, i64) -> Record,
) -> Result<bool, StoreError> {
    let Some(edit) = deps.archive.begin_record_edit(job.attendance_id, &job.student_number).await? else {
        return Ok(false);
    };
    let Some(record) = edit.record.clone().filter(|r| r.status() == attn_domain::RecordStatus::Pending) else {
        return Ok(false);
    };
    let now = deps.clock.now_ms();
    let new = finish(&record, now);
    let audit = AuditEntry {
        actor: "face-gateway".into(),
        action: "face_check_result".into(),
        student_number: Some(job.student_number.clone()),
        old_value: Some(snapshot_of(&record)),
        new_value: Some(snapshot_of(&new)),
        reason: Some(format!("job {}", job.job_id)),
        at_ms: now,
    };
    edit.commit(&new, &audit).await?;
    tracing::info!(job_id = %job.job_id, attendance_id = %job.attendance_id, "face result written to the archive");
    Ok(true)
}
