//! SubmitFaceCheck and GetFaceCheck against the stand-in gateway, over real
//! gRPC and real HTTP: the answers the gateway can give.

mod support;

use std::time::{Duration, Instant};

use attn_proto::internal::v1::{FaceCheckStatus, GetCapabilitiesRequest};
use attn_runtime::{Reason, reason_of};
use face_gateway_standin::MISMATCH_REASON;
use support::*;
use tonic::Code;

#[tokio::test]
async fn a_matching_face_is_verified() {
    let (mut client, _) = start_both(0).await;
    let job_id = submit(&mut client, face_check("20231001")).await.unwrap();
    let answer = final_result(&mut client, &job_id).await;
    assert_eq!(answer.status(), FaceCheckStatus::Success);
    assert!(answer.verified);
    assert_eq!(answer.reason, "");
    assert!(answer.gateway_finished_at_ms > 0, "the stand-in says when it finished");
}

#[tokio::test]
async fn a_mismatched_face_fails_with_the_gateway_reason() {
    let (mut client, _) = start_both(0).await;
    let job_id = submit(&mut client, face_check("s-mismatch-1")).await.unwrap();
    let answer = final_result(&mut client, &job_id).await;
    assert_eq!(answer.status(), FaceCheckStatus::Failure);
    assert!(!answer.verified);
    assert_eq!(answer.reason, MISMATCH_REASON);
}

#[tokio::test]
async fn a_job_is_pending_while_the_gateway_works() {
    let (mut client, _) = start_both(2_000).await;
    let job_id = submit(&mut client, face_check("20231002")).await.unwrap();
    let answer = result(&mut client, &job_id).await.unwrap();
    assert_eq!(answer.status(), FaceCheckStatus::Pending);
    assert!(!answer.verified);
    assert_eq!(answer.gateway_finished_at_ms, 0);
}

#[tokio::test]
async fn a_gateway_answering_garbage_is_unavailable_with_a_plain_reason() {
    let (mut client, _) = start_both(0).await;
    let job_id = submit(&mut client, face_check("garbage-1")).await.unwrap();
    let status = result(&mut client, &job_id).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("not JSON"), "{}", status.message());
    assert_eq!(reason_of(&status), Some(Reason::DependencyUnavailable), "{status:?}");
}

#[tokio::test]
async fn a_gateway_refusing_the_job_is_a_failed_precondition() {
    let (mut client, _) = start_both(0).await;
    let status = submit(&mut client, face_check("reject-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("refused"), "{}", status.message());
    assert_eq!(reason_of(&status), Some(Reason::FaceCheckRefused), "{status:?}");
}

#[tokio::test]
async fn an_unknown_job_is_not_found() {
    let (mut client, _) = start_both(0).await;
    let unknown = result(&mut client, "no-such-job").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(reason_of(&unknown), Some(Reason::FaceJobNotFound), "{unknown:?}");
    assert_eq!(result(&mut client, " ").await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_passing_500_is_retried_away_within_one_call() {
    // Two 500s, then an answer; the default two retries absorb them.
    let (mut client, _) = start_both(0).await;
    let job_id = submit(&mut client, face_check("flaky-1")).await.unwrap();
    let answer = result(&mut client, &job_id).await.unwrap();
    assert_eq!(answer.status(), FaceCheckStatus::Success);
}

#[tokio::test]
async fn retries_are_bounded_and_a_later_call_recovers() {
    // One retry: the first call meets both 500s and gives up (proving it
    // made exactly two attempts); the next call gets the result.
    let gateway = start_gateway(0).await;
    let mut client = start_verification(&gateway, |config| config.face_retries = 1).await;
    let job_id = submit(&mut client, face_check("flaky-2")).await.unwrap();
    assert_eq!(result(&mut client, &job_id).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(result(&mut client, &job_id).await.unwrap().status(), FaceCheckStatus::Success);
}

#[tokio::test]
async fn a_gateway_that_always_fails_gives_up_quickly() {
    let (mut client, _) = start_both(0).await;
    let job_id = submit(&mut client, face_check("error-1")).await.unwrap();
    let started = Instant::now();
    let status = result(&mut client, &job_id).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // Two retries back off 100 ms then 200 ms: bounded, not endless.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn capabilities_report_face_checks_when_a_gateway_is_configured() {
    let (mut with_gateway, _) = start_both(0).await;
    let mut without = start_verification("", |_| {}).await;
    let request = || GetCapabilitiesRequest {};
    assert!(with_gateway.get_capabilities(request()).await.unwrap().into_inner().face_checks);
    assert!(!without.get_capabilities(request()).await.unwrap().into_inner().face_checks);
}
