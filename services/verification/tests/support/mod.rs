//! Starts the stand-in face gateway and verification-service in-process on
//! port 0 — each bound before it is spawned, so both are ready at once —
//! and talks to verification-service over real gRPC.

#![allow(dead_code)] // each test file uses its own part of this

use std::time::{Duration, Instant};

use attn_proto::v1::{FaceCheckStatus, GetFaceCheckRequest, GetFaceCheckResponse, SubmitFaceCheckRequest};
use attn_runtime::Shutdown;
use face_gateway_standin::TINY_JPEG;
use tokio::net::TcpListener;
use tonic::Status;
use verification_service::{App, Config};

/// A client that presents the internal token, as attendance-service does.
pub type Client = attn_runtime::internal::VerificationClient;

/// The services' shared secret in these tests.
pub const INTERNAL_TOKEN: &str = "verification-test-internal-token";

/// A JPEG by its magic bytes (the gateway stand-in does not decode images).
pub fn selfie() -> Vec<u8> {
    TINY_JPEG.to_vec()
}

/// Starts the stand-in gateway; its base URL.
pub async fn start_gateway(delay_ms: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = face_gateway_standin::Config { standin_delay_ms: delay_ms, ..Default::default() };
    tokio::spawn(face_gateway_standin::serve(listener, config, std::future::pending()));
    base
}

/// A URL where nothing listens: bound once to get a free port, then closed.
pub async fn nothing_listening() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Starts verification-service with `gateway_url` (empty: no gateway) and
/// any other settings `tweak` sets; a connected client.
pub async fn start_verification(gateway_url: &str, tweak: impl FnOnce(&mut Config)) -> Client {
    let mut config = Config {
        verification_addr: "127.0.0.1:0".into(),
        face_gateway_url: gateway_url.into(),
        internal_token: Some(INTERNAL_TOKEN.into()),
        ..Config::default()
    };
    tweak(&mut config);
    let app = App::build(config).await.unwrap();
    let address = app.local_addr();
    // The test's runtime ends the server with the test; the shutdown is never tripped.
    tokio::spawn(app.run(Shutdown::new()));
    attn_runtime::internal::verification_client(
        &format!("http://{address}"),
        Some(&INTERNAL_TOKEN.into()),
        Duration::from_secs(10),
    )
    .unwrap()
}

/// The stand-in gateway and verification-service pointed at it.
pub async fn start_both(delay_ms: u64) -> (Client, String) {
    let gateway = start_gateway(delay_ms).await;
    (start_verification(&gateway, |_| {}).await, gateway)
}

pub fn face_check(student: &str) -> SubmitFaceCheckRequest {
    SubmitFaceCheckRequest {
        student_number: student.into(),
        attendance_id: "0190e7c4-5b1e-7000-8000-000000000001".into(),
        selfie: selfie(),
        reference_photo: selfie(),
        reference_photo_url: String::new(),
    }
}

pub async fn submit(client: &mut Client, request: SubmitFaceCheckRequest) -> Result<String, Status> {
    Ok(client.submit_face_check(request).await?.into_inner().job_id)
}

pub async fn result(client: &mut Client, job_id: &str) -> Result<GetFaceCheckResponse, Status> {
    let request = GetFaceCheckRequest { job_id: job_id.into() };
    Ok(client.get_face_check(request).await?.into_inner())
}

/// Polls until the job is SUCCESS or FAILURE, for at most five seconds.
pub async fn final_result(client: &mut Client, job_id: &str) -> GetFaceCheckResponse {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = result(client, job_id).await.unwrap();
        if matches!(answer.status(), FaceCheckStatus::Success | FaceCheckStatus::Failure) {
            return answer;
        }
        assert!(Instant::now() < deadline, "job {job_id} still {:?}", answer.status());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
