//! Starts the stand-in face gateway and verification-service in-process on
//! port 0 — each bound before it is spawned, so both are ready at once —
//! and talks to verification-service over real gRPC.

#![allow(dead_code)] // each test file uses its own part of this

use std::time::{Duration, Instant};

use attn_proto::internal::v1::{FaceCheckStatus, GetFaceCheckRequest, GetFaceCheckResponse, SubmitFaceCheckRequest};
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
        verification_metrics_addr: "127.0.0.1:0".into(),
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

/// The stand-in gateway and verification-service pointed at it, with the
/// stand-in's host allow-listed for reference photos.
pub async fn start_both(delay_ms: u64) -> (Client, String) {
    let gateway = start_gateway(delay_ms).await;
    let client = start_verification(&gateway, |config| config.face_photo_allowed_hosts = "127.0.0.1".into()).await;
    (client, gateway)
}

pub fn face_check(student: &str) -> SubmitFaceCheckRequest {
    SubmitFaceCheckRequest {
        student_number: student.into(),
        attendance_id: "0190e7c4-5b1e-7000-8000-000000000001".into(),
        selfie: selfie(),
        reference_photo: selfie(),
        ..Default::default()
    }
}

/// A face check whose reference photo verification-service must download from `url`.
pub fn face_check_with_photo_url(student: &str, url: &str) -> SubmitFaceCheckRequest {
    SubmitFaceCheckRequest { reference_photo: Vec::new(), reference_photo_url: url.into(), ..face_check(student) }
}

/// One `POST /submit-job` as the stand-in's journal lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SubmitEntry {
    pub student_school_number: String,
    pub idempotency_key: Option<String>,
    pub status: u16,
    pub job_id: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Journal {
    jobs: Vec<serde_json::Value>,
    submits: Vec<SubmitEntry>,
}

/// What the stand-in at `gateway` saw of one student: how many jobs it
/// made, and every submission in order.
pub async fn journal_of(gateway: &str, student: &str) -> (usize, Vec<SubmitEntry>) {
    // reqwest is built without a crypto provider of its own (ATTN uses ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let journal: Journal =
        reqwest::get(format!("{gateway}/jobs")).await.unwrap().json().await.expect("the journal is JSON");
    let jobs = journal.jobs.iter().filter(|job| job["student_school_number"] == student).count();
    (jobs, journal.submits.into_iter().filter(|submit| submit.student_school_number == student).collect())
}

/// Asserts a SubmitFaceCheck was refused as the check-in's
/// REFERENCE_IMAGE_NOT_FOUND.
#[track_caller]
pub fn assert_reference_image_not_found(result: Result<String, Status>) {
    match result {
        Ok(job_id) => panic!("expected REFERENCE_IMAGE_NOT_FOUND, got a job: {job_id}"),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
            assert!(status.message().starts_with("REFERENCE_IMAGE_NOT_FOUND"), "{}", status.message());
        }
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
