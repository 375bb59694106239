//! Scenario 5: face results. Students check in to an option-3 session with
//! a JPEG selfie; the stand-in gateway finishes each job a fixed delay after
//! it was submitted and says when (`finished_at_ms`); each student watches
//! `WatchMyRecord` until the record is final. The figure is the time from
//! the gateway finishing to the student seeing the final record.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use attn_proto::v1::{
    AttendRequest, AttendanceRecord, RecordStatus, SecurityOption, WatchMyRecordRequest,
    student_service_client::StudentServiceClient,
};
use futures::StreamExt;
use serde::Serialize;
use tonic::Code;

use crate::{
    bench::Bench,
    clients::authed,
    procs::{self, ProcFigures},
    stats::Percentiles,
};

#[derive(Debug, Clone, Serialize)]
pub struct FaceReport {
    /// "measured", or "skipped: <why>" (not a pass: nothing was measured).
    pub status: String,
    pub students: usize,
    pub gateway_delay_ms: u64,
    pub attended: usize,
    /// Final, but not attended: status → count.
    pub other_outcomes: BTreeMap<String, u64>,
    /// Calls that failed, by code (or "Timeout"), with an example each.
    pub errors: BTreeMap<String, u64>,
    pub error_examples: BTreeMap<String, String>,
    /// Final records whose gateway job the benchmark could not match.
    pub unmatched_jobs: usize,
    /// Gateway finished → the student sees the final record.
    pub result_delay: Percentiles,
    pub processes: BTreeMap<String, ProcFigures>,
}

impl FaceReport {
    fn skipped(bench: &Bench<'_>, why: String) -> Self {
        println!("  skipped: {why}");
        Self { status: format!("skipped: {why}"), ..Self::empty(bench) }
    }

    fn empty(bench: &Bench<'_>) -> Self {
        Self {
            status: "measured".into(),
            students: 0,
            gateway_delay_ms: bench.settings.face_delay_ms,
            attended: 0,
            other_outcomes: BTreeMap::new(),
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            unmatched_jobs: 0,
            result_delay: Percentiles::default(),
            processes: BTreeMap::new(),
        }
    }

    pub fn measured(&self) -> bool {
        self.status == "measured"
    }

    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if !self.measured() {
            return failures;
        }
        for (kind, count) in &self.errors {
            let example = self.error_examples.get(kind).map(String::as_str).unwrap_or_default();
            failures.push(format!("face: {count} students got {kind} ({example})"));
        }
        for (status, count) in &self.other_outcomes {
            failures.push(format!("face: {count} records ended {status}, expected ATTENDED (the stand-in matches)"));
        }
        if self.unmatched_jobs > 0 {
            failures.push(format!("face: {} final records had no gateway job the benchmark saw", self.unmatched_jobs));
        }
        failures
    }
}

/// What happened to one student.
enum Outcome {
    Final {
        record: Box<AttendanceRecord>,
        seen_at_ms: f64,
    },
    /// Attend said face checks are off in this deployment.
    Unavailable(String),
    Failed {
        kind: String,
        message: String,
    },
}

fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn face_checks_off(status: &tonic::Status) -> bool {
    status.code() == Code::FailedPrecondition && status.message().to_ascii_lowercase().contains("face")
}

pub async fn run(bench: &Bench<'_>) -> anyhow::Result<FaceReport> {
    let Some(proxy) = &bench.stack.face_proxy else {
        return Ok(FaceReport::skipped(
            bench,
            "no stand-in gateway to observe (with --target, pass --face-proxy-listen and --standin-url)".into(),
        ));
    };
    let session = match bench.start_session("Bench face results", SecurityOption::NetworkAndFace).await {
        Ok(session) => session,
        Err(status) if status.code() == Code::FailedPrecondition => {
            return Ok(FaceReport::skipped(bench, format!("face checks not available ({})", status.message())));
        }
        Err(status) => anyhow::bail!("StartAttendance with security option 3 failed: {status}"),
    };
    let id = session.attendance_id.clone();
    let students = bench.settings.face_students.min(bench.students.len());
    let before = bench.stack.start_window();
    let outcomes: Vec<(usize, Outcome)> = futures::stream::iter(0..students)
        .map(|i| {
            let id = id.clone();
            async move { (i, one_student(bench, &id, i).await) }
        })
        .buffer_unordered(bench.settings.concurrency)
        .collect()
        .await;
    let after = bench.stack.sample();
    bench.finish_session(&id).await?;

    let mut report = FaceReport::empty(bench);
    report.students = students;
    report.processes = procs::figures(&before, &after);
    let mut delays = Vec::new();
    let mut unavailable = None;
    for (i, outcome) in outcomes {
        match outcome {
            Outcome::Final { record, seen_at_ms } => {
                if record.status() == RecordStatus::Attended {
                    report.attended += 1;
                } else {
                    *report
                        .other_outcomes
                        .entry(format!("{:?} ({})", record.status(), record.fail_reason))
                        .or_default() += 1;
                }
                let number = &bench.people.students[i].number;
                let finished = match proxy.job_of(number) {
                    Some(job) => proxy.finished_at_ms(&job).await.ok().flatten(),
                    None => None,
                };
                match finished {
                    Some(finished_ms) => delays.push(seen_at_ms - finished_ms as f64),
                    None => report.unmatched_jobs += 1,
                }
            }
            Outcome::Unavailable(message) => unavailable = Some(message),
            Outcome::Failed { kind, message } => {
                *report.errors.entry(kind.clone()).or_default() += 1;
                report.error_examples.entry(kind).or_insert(message);
            }
        }
    }
    if let Some(message) = unavailable
        && report.attended == 0
    {
        return Ok(FaceReport::skipped(bench, format!("face checks not available ({message})")));
    }
    report.result_delay = Percentiles::of(delays);
    Ok(report)
}

async fn one_student(bench: &Bench<'_>, attendance_id: &str, i: usize) -> Outcome {
    // Far longer than a result should ever take, short enough that a broken
    // result path fails the quick run in seconds rather than minutes.
    let patience = Duration::from_millis(bench.settings.face_delay_ms) + Duration::from_secs(20);
    match tokio::time::timeout(patience, check_in_and_wait(bench, attendance_id, i)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failed { kind: "Timeout".into(), message: format!("no final record within {patience:?}") },
    }
}

async fn check_in_and_wait(bench: &Bench<'_>, attendance_id: &str, i: usize) -> Outcome {
    let channel = bench.channels[i % bench.channels.len()].clone();
    let token = &bench.students[i];
    let mut client = StudentServiceClient::new(channel);
    let request = AttendRequest {
        attendance_id: attendance_id.to_owned(),
        selfie: face_gateway_standin::TINY_JPEG.to_vec(),
        request_id: format!("face-{i}"),
        ..Default::default()
    };
    let record = match client.attend(authed(request, token)).await {
        Ok(answer) => answer.into_inner().record.unwrap_or_default(),
        Err(status) if face_checks_off(&status) => return Outcome::Unavailable(status.message().to_owned()),
        Err(status) => return failed(&status),
    };
    if record.status() != RecordStatus::Pending {
        return Outcome::Final { record: Box::new(record), seen_at_ms: wall_ms() };
    }
    let request = WatchMyRecordRequest { attendance_id: attendance_id.to_owned() };
    let mut stream = match client.watch_my_record(authed(request, token)).await {
        Ok(stream) => stream.into_inner(),
        Err(status) => return failed(&status),
    };
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                let seen_at_ms = wall_ms();
                let record = message.record.unwrap_or_default();
                if record.status() != RecordStatus::Pending {
                    return Outcome::Final { record: Box::new(record), seen_at_ms };
                }
            }
            Ok(None) => {
                return Outcome::Failed {
                    kind: "StreamEnded".into(),
                    message: "WatchMyRecord ended before the record was final".into(),
                };
            }
            Err(status) => return failed(&status),
        }
    }
}

fn failed(status: &tonic::Status) -> Outcome {
    Outcome::Failed { kind: format!("{:?}", status.code()), message: status.message().to_owned() }
}
