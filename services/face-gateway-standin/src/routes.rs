//! The HTTP contract of the face gateway, as the stand-in answers it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;

use crate::{
    Config, FLAKY_FAILURES, MISMATCH_REASON, Outcome, Plan, SubmitFault,
    jobs::{Job, JobBook, Stage, SubmitAttempt},
    outcome::{has_photo, photo_is_slow},
    photo::TINY_JPEG,
};

/// The header a client sends so that a repeated submission makes no second job.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The W3C trace context header a traced client sends.
const TRACEPARENT: &str = "traceparent";

/// Two images at ATTN's largest limit and then some: the stand-in should
/// never be the one refusing a size ATTN accepts.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub struct Standin {
    config: Config,
    jobs: JobBook,
}

impl Standin {
    pub fn new(config: Config) -> Self {
        Self { config, jobs: JobBook::default() }
    }
}

pub fn router(state: Arc<Standin>) -> Router {
    Router::new()
        .route("/submit-job", post(submit_job))
        .route("/results/{job_id}", get(results))
        .route("/photos/{file}", get(photo))
        .route("/jobs", get(journal))
        .route("/redirect", get(redirect))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Errors in the shape FastAPI-style gateways use.
fn detail(status: StatusCode, detail: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Detail {
        detail: String,
    }
    (status, Json(Detail { detail: detail.into() })).into_response()
}

async fn submit_job(State(standin): State<Arc<Standin>>, headers: HeaderMap, mut form: Multipart) -> Response {
    let (mut picture, mut intended, mut student) = (0usize, 0usize, String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return detail(err.status(), err.body_text()),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let read = match name.as_str() {
            "picture" => field.bytes().await.map(|bytes| picture = bytes.len()),
            "intended_picture" => field.bytes().await.map(|bytes| intended = bytes.len()),
            "student_school_number" => field.text().await.map(|text| student = text.trim().to_owned()),
            _ => Ok(()),
        };
        if let Err(err) = read {
            return detail(err.status(), err.body_text());
        }
    }
    for (missing, field) in
        [(picture == 0, "picture"), (intended == 0, "intended_picture"), (student.is_empty(), "student_school_number")]
    {
        if missing {
            return detail(StatusCode::BAD_REQUEST, format!("{field} is required"));
        }
    }

    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let (key, traceparent) = (header(IDEMPOTENCY_KEY), header(TRACEPARENT));
    let first = standin.jobs.submits_by(&student) == 0;
    let record = |status: StatusCode, job_id: Option<&str>| {
        standin.jobs.record_submit(SubmitAttempt {
            student: student.clone(),
            idempotency_key: key.clone(),
            traceparent: traceparent.clone(),
            status: status.as_u16(),
            job_id: job_id.map(str::to_owned),
        });
    };
    // A key seen before: the same job, whatever this student's number asks for.
    if let Some(job_id) = key.as_deref().and_then(|key| standin.jobs.job_for_key(key)) {
        tracing::info!(%job_id, %student, "stand-in: a repeated submission; the same job");
        record(StatusCode::ACCEPTED, Some(&job_id));
        return accepted(job_id);
    }
    let plan = Plan::for_student(&student);
    if plan.outcome == Outcome::Reject {
        tracing::info!(%student, "stand-in rejects the job, as the number asks");
        record(StatusCode::UNPROCESSABLE_ENTITY, None);
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "stand-in: this student number asks for a rejected job");
    }
    let fault = if first { plan.submit } else { SubmitFault::None };
    if fault == SubmitFault::Unavailable {
        record(StatusCode::SERVICE_UNAVAILABLE, None);
        return detail(StatusCode::SERVICE_UNAVAILABLE, "stand-in: not taken; try again");
    }
    let (job_id, _) = standin.jobs.take(Job::new(plan, standin.config.delay(plan), &student), key.as_deref());
    tracing::info!(%job_id, %student, ?plan, "stand-in accepted a job");
    match fault {
        SubmitFault::TakenThenError => {
            record(StatusCode::INTERNAL_SERVER_ERROR, Some(&job_id));
            detail(StatusCode::INTERNAL_SERVER_ERROR, "stand-in: the job was taken, but this answer says it failed")
        }
        SubmitFault::TakenThenLate => {
            record(StatusCode::ACCEPTED, Some(&job_id));
            tokio::time::sleep(Duration::from_millis(standin.config.standin_slow_delay_ms)).await;
            accepted(job_id)
        }
        SubmitFault::None | SubmitFault::Unavailable => {
            record(StatusCode::ACCEPTED, Some(&job_id));
            accepted(job_id)
        }
    }
}

fn accepted(job_id: String) -> Response {
    #[derive(Serialize)]
    struct Accepted {
        job_id: String,
    }
    (StatusCode::ACCEPTED, Json(Accepted { job_id })).into_response()
}

/// The contract's result, plus `finished_at_ms` once final.
#[derive(Debug, Serialize)]
struct JobResult {
    status: &'static str,
    verified: bool,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at_ms: Option<u64>,
}

async fn results(State(standin): State<Arc<Standin>>, Path(job_id): Path<String>) -> Response {
    let now = Instant::now();
    let Some((plan, stage, served)) = standin.jobs.visit(&job_id, |job| (job.plan, job.stage(now), job.results_served))
    else {
        return detail(StatusCode::NOT_FOUND, format!("no job {job_id}"));
    };
    match plan.outcome {
        Outcome::ServerError => {
            return detail(StatusCode::INTERNAL_SERVER_ERROR, "stand-in: results always fail for this number");
        }
        Outcome::Flaky if served <= FLAKY_FAILURES => {
            return detail(StatusCode::INTERNAL_SERVER_ERROR, "stand-in: a passing failure; ask again");
        }
        Outcome::Garbage => {
            return ([(header::CONTENT_TYPE, "text/html")], "<html><body>502 Bad Gateway</body></html>")
                .into_response();
        }
        _ => {}
    }
    let stage = if plan.outcome == Outcome::Stuck { Stage::Pending } else { stage };
    let body = match stage {
        Stage::Pending | Stage::InProgress => JobResult {
            status: if stage == Stage::Pending { "PENDING" } else { "IN_PROGRESS" },
            verified: false,
            reason: String::new(),
            finished_at_ms: None,
        },
        Stage::Final { finished_at_ms } => {
            let matched = plan.outcome != Outcome::Mismatch;
            JobResult {
                status: if matched { "SUCCESS" } else { "FAILURE" },
                verified: matched,
                reason: if matched { String::new() } else { MISMATCH_REASON.into() },
                finished_at_ms: Some(finished_at_ms),
            }
        }
    };
    Json(body).into_response()
}

/// `GET /jobs`: stand-in only, not part of the gateway contract. Every job
/// with its student and when it becomes final, so tests and the benchmark can
/// measure how long a verdict takes to reach the record; and every
/// submission with the idempotency key and `traceparent` it carried and the
/// answer it got, so tests can count attempts and jobs and follow traces.
async fn journal(State(standin): State<Arc<Standin>>) -> Response {
    #[derive(Serialize)]
    struct JobEntry {
        job_id: String,
        student_school_number: String,
        finished_at_ms: u64,
    }
    #[derive(Serialize)]
    struct SubmitEntry {
        student_school_number: String,
        idempotency_key: Option<String>,
        traceparent: Option<String>,
        status: u16,
        job_id: Option<String>,
    }
    #[derive(Serialize)]
    struct Journal {
        jobs: Vec<JobEntry>,
        submits: Vec<SubmitEntry>,
    }
    let jobs = standin
        .jobs
        .journal()
        .into_iter()
        .map(|(job_id, student_school_number, finished_at_ms)| JobEntry {
            job_id,
            student_school_number,
            finished_at_ms,
        })
        .collect();
    let submits = standin
        .jobs
        .submits()
        .into_iter()
        .map(|attempt| SubmitEntry {
            student_school_number: attempt.student,
            idempotency_key: attempt.idempotency_key,
            traceparent: attempt.traceparent,
            status: attempt.status,
            job_id: attempt.job_id,
        })
        .collect();
    Json(Journal { jobs, submits }).into_response()
}

/// `GET /redirect?to=<url>`: stand-in only. Answers 302 to whatever follows
/// `to=`, as photo hosts and link shorteners do, so tests can check where
/// ATTN lets a redirect take it.
async fn redirect(RawQuery(query): RawQuery) -> Response {
    match query.as_deref().and_then(|query| query.strip_prefix("to=")) {
        Some(target) if !target.is_empty() => {
            (StatusCode::FOUND, [(header::LOCATION, target.to_owned())]).into_response()
        }
        _ => detail(StatusCode::BAD_REQUEST, "stand-in: /redirect needs ?to=<url>"),
    }
}

/// `GET /photos/{school_number}.jpg`: every demo student has the same tiny photo.
async fn photo(State(standin): State<Arc<Standin>>, Path(file): Path<String>) -> Response {
    match file.strip_suffix(".jpg") {
        Some(number) if !number.is_empty() && has_photo(number) => {
            if photo_is_slow(number) {
                tokio::time::sleep(Duration::from_millis(standin.config.standin_slow_delay_ms)).await;
            }
            ([(header::CONTENT_TYPE, "image/jpeg")], TINY_JPEG.as_slice()).into_response()
        }
        _ => detail(StatusCode::NOT_FOUND, format!("no photo {file}")),
    }
}
