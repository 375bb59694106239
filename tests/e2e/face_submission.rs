//! Security option 3 when the gateway never finishes: no check-in pending
//! for ever.

use std::time::Duration;

use attn_e2e::{Standin, TestEnv, eventually};
use attn_proto::v1::{self as pb, GetMyRecordRequest};
use attn_store::face_queue::FaceQueue;

use crate::{
    common::{start, status_of},
    face::{SELFIE, attend_with, face_env, roster, student},
};

/// An option-3 session, and the student `number` added to the roster and signed in.
async fn session_for(env: &TestEnv, standin: &Standin, number: &str) -> (String, attn_e2e::StudentClient) {
    roster(env, standin, &[number]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/8"]).await.unwrap();
    (session.attendance_id, student(&clients, number).await)
}

async fn record_of(student: &mut attn_e2e::StudentClient, id: &str) -> pb::AttendanceRecord {
    let request = GetMyRecordRequest { attendance_id: id.into() };
    student.get_my_record(request).await.unwrap().into_inner().record.unwrap()
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
}
