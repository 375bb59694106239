//! SubmitFaceCheck refuses bad input, finds the reference photo, and says
//! clearly when the gateway cannot be reached.

mod support;

use attn_proto::internal::v1::FaceCheckStatus;
use attn_runtime::{Reason, reason_of};
use support::*;
use tonic::Code;

#[tokio::test]
async fn a_reference_photo_is_fetched_from_its_url() {
    let (mut client, gateway) = start_both(0).await;
    let mut request = face_check("20231003");
    request.reference_photo.clear();
    request.reference_photo_url = format!("{gateway}/photos/20231003.jpg");
    let job_id = submit(&mut client, request).await.unwrap();
    assert_eq!(final_result(&mut client, &job_id).await.status(), FaceCheckStatus::Success);
}

#[tokio::test]
async fn no_reference_photo_is_reference_image_not_found() {
    let (mut client, _) = start_both(0).await;
    let mut request = face_check("20231004");
    request.reference_photo.clear();
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
    assert_eq!(reason_of(&status), Some(Reason::ReferenceImageNotFound), "{status:?}");
}

#[tokio::test]
async fn a_reference_photo_url_that_404s_is_reference_image_not_found() {
    let (mut client, gateway) = start_both(0).await;
    let mut request = face_check("s-nophoto-1");
    request.reference_photo.clear();
    request.reference_photo_url = format!("{gateway}/photos/s-nophoto-1.jpg");
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
    assert_eq!(reason_of(&status), Some(Reason::ReferenceImageNotFound), "{status:?}");
}

#[tokio::test]
async fn a_text_file_posing_as_a_jpeg_is_invalid() {
    let (mut client, _) = start_both(0).await;
    let mut request = face_check("20231005");
    request.selfie = b"I am notes.txt, renamed selfie.jpg".to_vec();
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("selfie:"), "{}", status.message());
    assert_eq!(reason_of(&status), Some(Reason::InvalidArgument), "{status:?}");

    let mut request = face_check("20231005");
    request.reference_photo = b"not a photo either".to_vec();
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("reference_photo:"), "{}", status.message());
}

#[tokio::test]
async fn an_oversized_selfie_is_invalid_and_names_the_limit() {
    // The default limit, 2 MiB: one byte over it.
    let (mut client, _) = start_both(0).await;
    let mut request = face_check("20231006");
    request.selfie.resize(2 * 1024 * 1024 + 1, 0);
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("selfie:"), "{}", status.message());
    assert!(status.message().contains("2097152"), "{}", status.message());
}

#[tokio::test]
async fn two_images_at_the_limit_fit_in_one_request() {
    let (mut client, _) = start_both(0).await;
    let mut request = face_check("20231007");
    request.selfie.resize(2 * 1024 * 1024, 0);
    request.reference_photo.resize(2 * 1024 * 1024, 0);
    let job_id = submit(&mut client, request).await.unwrap();
    assert_eq!(final_result(&mut client, &job_id).await.status(), FaceCheckStatus::Success);
}

#[tokio::test]
async fn a_missing_selfie_or_student_is_invalid() {
    let (mut client, _) = start_both(0).await;
    let mut request = face_check("20231008");
    request.selfie.clear();
    let status = submit(&mut client, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("selfie:"), "{}", status.message());

    let status = submit(&mut client, face_check("")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("student_number:"), "{}", status.message());
}

#[tokio::test]
async fn a_gateway_that_is_down_at_submit_is_unavailable() {
    let down = nothing_listening().await;
    let mut client = start_verification(&down, |_| {}).await;
    let status = submit(&mut client, face_check("20231009")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("face gateway"), "{}", status.message());
}

#[tokio::test]
async fn without_a_gateway_face_checks_are_a_failed_precondition() {
    let mut client = start_verification("", |_| {}).await;
    let status = submit(&mut client, face_check("20231010")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().starts_with("no face gateway is configured"), "{}", status.message());
}

#[tokio::test]
async fn an_https_gateway_is_spoken_to_over_tls() {
    // The stand-in speaks plain HTTP, so the TLS handshake fails: proof the
    // client really starts TLS (with the ring provider) and reports the
    // failure as UNAVAILABLE rather than crashing.
    let gateway = start_gateway(0).await.replace("http://", "https://");
    let mut client = start_verification(&gateway, |config| config.face_retries = 0).await;
    let status = submit(&mut client, face_check("20231011")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}
