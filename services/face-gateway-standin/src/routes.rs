//! The HTTP contract of the face gateway, as the stand-in answers it.

use std::{sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;

use crate::{
    Config, FLAKY_FAILURES, MISMATCH_REASON, Outcome, Plan,
    jobs::{Job, JobBook, Stage},
    outcome::has_photo,
    photo::TINY_JPEG,
};

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

async fn submit_job(State(standin): State<Arc<Standin>>, mut form: Multipart) -> Response {
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

    let plan = Plan::for_student(&student);
    if plan.outcome == Outcome::Reject {
        tracing::info!(%student, "stand-in rejects the job, as the number asks");
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "stand-in: this student number asks for a rejected job");
    }
    let job_id = standin.jobs.add(Job::new(plan, standin.config.delay(plan), &student));
    tracing::info!(%job_id, %student, ?plan, "stand-in accepted a job");

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
/// measure how long a verdict takes to reach the record.
async fn journal(State(standin): State<Arc<Standin>>) -> Response {
    #[derive(Serialize)]
    struct Entry {
        job_id: String,
        student_school_number: String,
        finished_at_ms: u64,
    }
    let entries: Vec<Entry> = standin
        .jobs
        .journal()
        .into_iter()
        .map(|(job_id, student_school_number, finished_at_ms)| Entry { job_id, student_school_number, finished_at_ms })
        .collect();
    Json(entries).into_response()
}

/// `GET /photos/{school_number}.jpg`: every demo student has the same tiny photo.
async fn photo(Path(file): Path<String>) -> Response {
    match file.strip_suffix(".jpg") {
        Some(number) if !number.is_empty() && has_photo(number) => {
            ([(header::CONTENT_TYPE, "image/jpeg")], TINY_JPEG.as_slice()).into_response()
        }
        _ => detail(StatusCode::NOT_FOUND, format!("no photo {file}")),
    }
}
