//! Security option 3 when the gateway misbehaves at submit or never
//! finishes: one job per check-in however often it is tried, no retry that
//! could make a second job, and no check-in pending for ever.

use std::time::Duration;

use attn_e2e::{Standin, TestEnv, eventually};
use attn_proto::v1::{self as pb, AttendRequest, GetMyRecordRequest};
use attn_store::face_queue::FaceQueue;

use crate::{
    common::{start, status_of},
    face::{SELFIE, attend_with, face_env, roster, student},
    metrics::{assert_sample, sample, scrape},
};

/// How many calls to the face gateway verification-service timed as `operation` ending in `outcome`.
async fn assert_gateway_calls(env: &TestEnv, operation: &str, outcome: &str, calls: f64) {
    let text = scrape(env.verification_metrics_addr).await;
    let labels = [("operation", operation), ("outcome", outcome)];
    assert_sample(&text, "attn_face_gateway_seconds_count", &labels, calls);
}

fn attend_request(id: &str, request_id: &str) -> AttendRequest {
    AttendRequest {
        attendance_id: id.into(),
        selfie: SELFIE.to_vec(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// An option-3 session, and the student `number` added to the roster and signed in.
async fn session_for(env: &TestEnv, standin: &Standin, number: &str) -> (String, attn_e2e::StudentClient) {
    roster(env, standin, &[number]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    (session.attendance_id, student(&clients, number).await)
}

async fn record_of(student: &mut attn_e2e::StudentClient, id: &str) -> pb::AttendanceRecord {
    let request = GetMyRecordRequest { attendance_id: id.into() };
    student.get_my_record(request).await.unwrap().into_inner().record.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_503_at_submit_is_retried_with_one_key_and_the_check_in_has_one_job() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let (id, mut kim) = session_for(&env, &standin, "s_submit503_1").await;
    let record = kim.attend(attend_request(&id, "attend-503")).await.unwrap().into_inner().record.unwrap();
    assert_eq!(status_of(&record), pb::RecordStatus::Pending, "{record:?}");
    let (jobs, submits) = standin.journal_of("s_submit503_1").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(submits.iter().map(|s| s.status).collect::<Vec<_>>(), [503, 202]);
    let key = submits[0].idempotency_key.clone().expect("the submission carries an Idempotency-Key");
    assert!(key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()), "a SHA-256 of the request: {key}");
    assert_eq!(submits[1].idempotency_key.as_deref(), Some(key.as_str()));
    // One submission, retries included, that ended well.
    assert_gateway_calls(&env, "submit", "ok", 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_500_at_submit_is_not_retried_and_fails_the_submission() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let (id, mut leo) = session_for(&env, &standin, "s_submit500_1").await;
    let record = attend_with(&mut leo, &id, SELFIE).await.unwrap();
    assert_eq!(record.fail_reason, "FACE_VERIFICATION_SUBMISSION_FAILED", "{record:?}");
    let (jobs, submits) = standin.journal_of("s_submit500_1").await;
    assert_eq!(submits.iter().map(|s| s.status).collect::<Vec<_>>(), [500], "one attempt, not retried");
    assert_eq!(jobs.len(), 1);
    assert_gateway_calls(&env, "submit", "server_error", 1.0).await;
    let text = scrape(env.verification_metrics_addr).await;
    assert_eq!(sample(&text, "attn_face_gateway_seconds_count", &[("operation", "submit"), ("outcome", "ok")]), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_attend_whose_first_submission_made_a_job_makes_no_second_job() {
    // slowsubmit: the gateway takes the job, then answers after a minute.
    let standin = Standin::start_with_slow(Duration::from_millis(100), Duration::from_secs(60)).await;
    let env = face_env(&standin, |_| {}).await;
    let (id, mut mia) = session_for(&env, &standin, "s_slowsubmit_1").await;

    // The student's app gives up before any answer, once the gateway has
    // taken the submission: waiting for that, not for a guessed half second
    // that a busy machine can spend before the submission is even sent.
    let mut impatient = mia.clone();
    let request = attend_request(&id, "attend-replayed");
    let first = tokio::spawn(async move { impatient.attend(request).await });
    eventually(Duration::from_secs(30), "the gateway to take the first submission", || async {
        (standin.journal_of("s_slowsubmit_1").await.0.len() == 1).then_some(())
    })
    .await;
    assert!(!first.is_finished(), "no answer yet: the gateway answers the first submission after a minute");
    first.abort();

    // The app sends the same Attend again.
    let replayed = mia.attend(attend_request(&id, "attend-replayed")).await.unwrap().into_inner().record.unwrap();
    assert_eq!(status_of(&replayed), pb::RecordStatus::Pending, "{replayed:?}");
    let (jobs, submits) = standin.journal_of("s_slowsubmit_1").await;
    assert_eq!(jobs.len(), 1, "no second job: {submits:?}");
    assert_eq!(submits.len(), 2);
    assert_eq!(submits[0].idempotency_key, submits[1].idempotency_key);
    let (record, _) = env.live.record(id.parse().unwrap(), "s_slowsubmit_1").await.unwrap().unwrap();
    assert_eq!(record.face_job_id.as_deref(), Some(jobs[0].job_id.as_str()), "the record waits for that job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_the_gateway_never_finishes_times_out_and_the_student_may_check_in_again() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env.start_sweeper_with(|config| config.face_max_age_secs = 1).await;
    let (id, mut nina) = session_for(&env, &standin, "s_stuck_1").await;
    let first = attend_with(&mut nina, &id, SELFIE).await.unwrap();
    assert_eq!(status_of(&first), pb::RecordStatus::Pending);

    let record = eventually(Duration::from_secs(15), "the stuck check-in to time out", || {
        let mut nina = nina.clone();
        let id = id.clone();
        async move {
            let record = record_of(&mut nina, &id).await;
            (status_of(&record) != pb::RecordStatus::Pending).then_some(record)
        }
    })
    .await;
    assert_eq!(status_of(&record), pb::RecordStatus::Failed);
    assert_eq!(record.fail_reason, "FACE_VERIFICATION_TIMED_OUT");
    assert_eq!(record.fail_code(), pb::FailCode::FaceVerificationTimedOut);
    let queue = FaceQueue::new(env.live.pool().clone(), env.live.keys().clone());
    assert_eq!(queue.len().await.unwrap(), 0, "the job left the queue");

    let again = attend_with(&mut nina, &id, SELFIE).await.unwrap();
    assert_eq!(status_of(&again), pb::RecordStatus::Pending, "{again:?}");
    assert_eq!(standin.journal_of("s_stuck_1").await.0.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_results_keep_failing_times_out_before_its_error_budget_runs_out() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env
        .start_sweeper_with(|config| {
            config.face_max_age_secs = 1;
            config.face_max_errors = 100;
        })
        .await;
    let (id, mut omar) = session_for(&env, &standin, "s_error_1").await;
    attend_with(&mut omar, &id, SELFIE).await.unwrap();
    let record = eventually(Duration::from_secs(15), "the failing check-in to time out", || {
        let mut omar = omar.clone();
        let id = id.clone();
        async move {
            let record = record_of(&mut omar, &id).await;
            (status_of(&record) != pb::RecordStatus::Pending).then_some(record)
        }
    })
    .await;
    assert_eq!(record.fail_reason, "FACE_VERIFICATION_TIMED_OUT");
    assert_eq!(record.fail_code(), pb::FailCode::FaceVerificationTimedOut);
}
