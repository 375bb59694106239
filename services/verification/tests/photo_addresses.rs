//! Reference photos are downloaded from public addresses only, unless the
//! host is allow-listed (ATTN_FACE_PHOTO_ALLOWED_HOSTS): never loopback,
//! private, link-local or metadata addresses — not as a literal, not
//! through DNS, not after a redirect. A refused photo reads as a missing
//! one: REFERENCE_IMAGE_NOT_FOUND.

mod support;

use std::time::{Duration, Instant};

use attn_proto::internal::v1::FaceCheckStatus;
use support::*;

/// The stand-in's port on 127.0.0.1, for URLs that reach it by other names.
fn port_of(gateway: &str) -> &str {
    gateway.rsplit(':').next().unwrap()
}

#[tokio::test]
async fn a_link_local_photo_url_is_refused_without_any_connection() {
    let gateway = start_gateway(0).await;
    // A connection attempt would take up to the photo timeout.
    let mut client = start_verification(&gateway, |config| config.face_photo_timeout_ms = 10_000).await;
    let started = Instant::now();
    let url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/";
    let status = submit(&mut client, face_check_with_photo_url("20231101", url)).await.unwrap_err();
    // Refused by the rule, not answered by whatever listens there.
    assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
    assert!(status.message().contains("link-local"), "{}", status.message());
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let (jobs, submits) = journal_of(&gateway, "20231101").await;
    assert_eq!((jobs, submits.len()), (0, 0));
}

#[tokio::test]
async fn loopback_private_and_unspecified_literals_are_refused() {
    let gateway = start_gateway(0).await;
    let port = port_of(&gateway);
    let mut client = start_verification(&gateway, |_| {}).await;
    for url in [
        format!("http://127.0.0.1:{port}/photos/20231102.jpg"),
        format!("http://[::ffff:127.0.0.1]:{port}/photos/20231102.jpg"),
        format!("http://0.0.0.0:{port}/photos/20231102.jpg"),
        format!("http://2130706433:{port}/photos/20231102.jpg"),
        "http://10.0.0.1/photos/20231102.jpg".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
    ] {
        let result = submit(&mut client, face_check_with_photo_url("20231102", &url)).await;
        assert_reference_image_not_found(result);
    }
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_refused_unless_allow_listed() {
    let gateway = start_gateway(0).await;
    let url = format!("http://localhost:{}/photos/20231103.jpg", port_of(&gateway));
    let mut refusing = start_verification(&gateway, |_| {}).await;
    assert_reference_image_not_found(submit(&mut refusing, face_check_with_photo_url("20231103", &url)).await);

    let mut allowing =
        start_verification(&gateway, |config| config.face_photo_allowed_hosts = "localhost".into()).await;
    let job_id = submit(&mut allowing, face_check_with_photo_url("20231103", &url)).await.unwrap();
    assert_eq!(final_result(&mut allowing, &job_id).await.status(), FaceCheckStatus::Success);
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_to_a_refused_address_is_refused() {
    let gateway = start_gateway(0).await;
    let port = port_of(&gateway);
    let mut client = start_verification(&gateway, |config| config.face_photo_allowed_hosts = "localhost".into()).await;
    for target in [format!("http://127.0.0.1:{port}/photos/20231104.jpg"), "http://169.254.169.254/latest/".to_owned()]
    {
        let url = format!("http://localhost:{port}/redirect?to={target}");
        assert_reference_image_not_found(submit(&mut client, face_check_with_photo_url("20231104", &url)).await);
    }
}

#[tokio::test]
async fn more_than_three_redirects_are_refused_even_between_allowed_hosts() {
    let gateway = start_gateway(0).await;
    let mut client = start_verification(&gateway, |config| config.face_photo_allowed_hosts = "127.0.0.1".into()).await;
    let photo = format!("{gateway}/photos/20231105.jpg");
    let hops = |n: usize| (0..n).fold(photo.clone(), |target, _| format!("{gateway}/redirect?to={target}"));
    let job_id = submit(&mut client, face_check_with_photo_url("20231105", &hops(3))).await.unwrap();
    assert_eq!(final_result(&mut client, &job_id).await.status(), FaceCheckStatus::Success);
    assert_reference_image_not_found(submit(&mut client, face_check_with_photo_url("20231105", &hops(4))).await);
}

#[tokio::test]
async fn the_stand_in_on_loopback_works_when_allow_listed_explicitly() {
    let gateway = start_gateway(0).await;
    let mut client = start_verification(&gateway, |config| config.face_photo_allowed_hosts = "127.0.0.1".into()).await;
    let url = format!("{gateway}/photos/20231106.jpg");
    let job_id = submit(&mut client, face_check_with_photo_url("20231106", &url)).await.unwrap();
    assert_eq!(final_result(&mut client, &job_id).await.status(), FaceCheckStatus::Success);
}
