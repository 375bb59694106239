//! SubmitFaceCheck makes one gateway job however often it has to try: every
//! attempt carries the same idempotency key, and only failures the gateway
//! cannot have accepted are retried.

mod support;

use attn_proto::internal::v1::SubmitFaceCheckRequest;
use support::*;
use tonic::Code;

fn statuses(submits: &[SubmitEntry]) -> Vec<u16> {
    submits.iter().map(|submit| submit.status).collect()
}

#[tokio::test]
async fn a_503_at_submit_is_retried_with_the_same_idempotency_key_and_makes_one_job() {
    let (mut client, gateway) = start_both(0).await;
    submit(&mut client, face_check("s_submit503_1")).await.unwrap();
    let (jobs, submits) = journal_of(&gateway, "s_submit503_1").await;
    assert_eq!(jobs, 1);
    assert_eq!(statuses(&submits), [503, 202]);
    let key = submits[0].idempotency_key.as_deref().expect("the submission carries an Idempotency-Key");
    assert!(!key.is_empty());
    assert_eq!(submits[1].idempotency_key.as_deref(), Some(key), "a retry carries the same key");
}

#[tokio::test]
async fn a_500_at_submit_is_not_retried_since_the_gateway_may_have_taken_the_job() {
    // Two retries allowed: none may be used.
    let (mut client, gateway) = start_both(0).await;
    let status = submit(&mut client, face_check("s_submit500_1")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let (jobs, submits) = journal_of(&gateway, "s_submit500_1").await;
    assert_eq!(statuses(&submits), [500], "one attempt, no retry");
    assert_eq!(jobs, 1);
}

#[tokio::test]
async fn the_callers_idempotency_key_is_sent_and_a_repeated_submission_gets_the_same_job() {
    let (mut client, gateway) = start_both(0).await;
    let request = SubmitFaceCheckRequest { idempotency_key: "attend-key-1".into(), ..face_check("20231201") };
    let first = submit(&mut client, request.clone()).await.unwrap();
    let second = submit(&mut client, request).await.unwrap();
    assert_eq!(first, second);
    let (jobs, submits) = journal_of(&gateway, "20231201").await;
    assert_eq!(jobs, 1);
    let keys: Vec<_> = submits.iter().map(|submit| submit.idempotency_key.as_deref()).collect();
    assert_eq!(keys, [Some("attend-key-1"), Some("attend-key-1")]);
}

#[tokio::test]
async fn a_submission_without_a_key_gets_a_fresh_one() {
    let (mut client, gateway) = start_both(0).await;
    let first = submit(&mut client, face_check("20231202")).await.unwrap();
    let second = submit(&mut client, face_check("20231202")).await.unwrap();
    assert_ne!(first, second, "two submissions without a key are two jobs");
    let (_, submits) = journal_of(&gateway, "20231202").await;
    let keys: Vec<_> = submits.iter().map(|submit| submit.idempotency_key.clone().expect("a key")).collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
}
