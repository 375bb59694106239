//! SubmitFaceCheck honours the caller's deadline (`grpc-timeout`): the
//! photo download and the submission, retries and backoff included, end
//! within it, and the caller hears UNAVAILABLE rather than being cut off.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tonic::{Code, Request};

#[tokio::test]
async fn a_short_deadline_with_a_slow_photo_is_unavailable_in_time_and_submits_nothing() {
    // The stand-in's slowphoto answers after 10 s; the caller gives 1 s.
    let gateway = start_gateway(0).await;
    let mut client = start_verification(&gateway, |config| config.face_photo_allowed_hosts = "127.0.0.1".into()).await;
    let url = format!("{gateway}/photos/s_slowphoto_1.jpg");
    let mut request = Request::new(face_check_with_photo_url("s_slowphoto_1", &url));
    request.set_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let status = client.submit_face_check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let (jobs, submits) = journal_of(&gateway, "s_slowphoto_1").await;
    assert_eq!((jobs, submits.len()), (0, 0), "no submission was started");
}

#[tokio::test]
async fn retries_and_their_backoff_stop_at_the_callers_deadline() {
    // Ten retries back off 100 ms, 200 ms, 400 ms, …: far past 300 ms.
    let down = nothing_listening().await;
    let mut client = start_verification(&down, |config| config.face_retries = 10).await;
    let mut request = Request::new(face_check("20231203"));
    request.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let status = client.submit_face_check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
}
