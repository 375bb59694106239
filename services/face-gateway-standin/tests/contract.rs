//! The stand-in answers the face gateway's HTTP contract, over real HTTP.

use std::time::{Duration, Instant};

use face_gateway_standin::{Config, FLAKY_FAILURES, MISMATCH_REASON, TINY_JPEG, serve};
use reqwest::{StatusCode, multipart};
use serde_json::Value;
use tokio::net::TcpListener;

/// Binds port 0, then spawns the stand-in: it is ready as soon as this returns.
async fn start(delay_ms: u64) -> (String, reqwest::Client) {
    start_with(Config { standin_delay_ms: delay_ms, ..Config::default() }).await
}

async fn start_with(config: Config) -> (String, reqwest::Client) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, config, std::future::pending()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Redirects are the caller's to judge here.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    (base, client)
}

async fn submit_keyed(base: &str, client: &reqwest::Client, student: &str, key: &str) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/submit-job"))
        .header("Idempotency-Key", key)
        .multipart(job_form(student))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn journal(base: &str, client: &reqwest::Client) -> Value {
    client.get(format!("{base}/jobs")).send().await.unwrap().json().await.unwrap()
}

/// The journal's entries for one student, from its `jobs` or `submits` list.
fn entries_of<'a>(journal: &'a Value, list: &str, student: &str) -> Vec<&'a Value> {
    journal[list].as_array().unwrap().iter().filter(|entry| entry["student_school_number"] == student).collect()
}

fn job_form(student: &str) -> multipart::Form {
    multipart::Form::new()
        .part("picture", multipart::Part::bytes(TINY_JPEG.to_vec()).file_name("selfie.jpg"))
        .part("intended_picture", multipart::Part::bytes(TINY_JPEG.to_vec()).file_name("ref.jpg"))
        .text("student_school_number", student.to_owned())
}

async fn submit(base: &str, client: &reqwest::Client, student: &str) -> String {
    let response = client.post(format!("{base}/submit-job")).multipart(job_form(student)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    body["job_id"].as_str().expect("a job_id string").to_owned()
}

async fn result(base: &str, client: &reqwest::Client, job_id: &str) -> (StatusCode, String) {
    let response = client.get(format!("{base}/results/{job_id}")).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn final_result(base: &str, client: &reqwest::Client, job_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, text) = result(base, client, job_id).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        if matches!(body["status"].as_str(), Some("SUCCESS" | "FAILURE")) {
            return body;
        }
        assert!(Instant::now() < deadline, "job {job_id} never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_ordinary_student_is_pending_then_verified_with_a_finish_time() {
    let (base, client) = start(1_000).await;
    let job_id = submit(&base, &client, "20231001").await;
    let (_, early) = result(&base, &client, &job_id).await;
    let early: Value = serde_json::from_str(&early).unwrap();
    assert_eq!(early["status"], "PENDING");
    assert_eq!(early["verified"], false);
    assert!(early.get("finished_at_ms").is_none());

    let done = final_result(&base, &client, &job_id).await;
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(done["verified"], true);
    assert_eq!(done["reason"], "");
    assert!(done["finished_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
}

#[tokio::test]
async fn a_mismatch_student_fails_with_a_reason() {
    let (base, client) = start(0).await;
    let job_id = submit(&base, &client, "s-mismatch-1").await;
    let done = final_result(&base, &client, &job_id).await;
    assert_eq!(done["status"], "FAILURE");
    assert_eq!(done["verified"], false);
    assert_eq!(done["reason"], MISMATCH_REASON);
}

#[tokio::test]
async fn a_reject_student_is_refused_at_submit() {
    let (base, client) = start(0).await;
    let response = client.post(format!("{base}/submit-job")).multipart(job_form("reject-1")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_submission_without_the_reference_picture_is_a_bad_request() {
    let (base, client) = start(0).await;
    let form = multipart::Form::new()
        .part("picture", multipart::Part::bytes(TINY_JPEG.to_vec()))
        .text("student_school_number", "20231001");
    let response = client.post(format!("{base}/submit-job")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("intended_picture"));
}

#[tokio::test]
async fn error_flaky_and_garbage_students_get_the_broken_answers_they_ask_for() {
    let (base, client) = start(0).await;
    let error = submit(&base, &client, "error-1").await;
    for _ in 0..3 {
        assert_eq!(result(&base, &client, &error).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    let flaky = submit(&base, &client, "flaky-1").await;
    for _ in 0..FLAKY_FAILURES {
        assert_eq!(result(&base, &client, &flaky).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(final_result(&base, &client, &flaky).await["status"], "SUCCESS");

    let garbage = submit(&base, &client, "garbage-1").await;
    let (status, text) = result(&base, &client, &garbage).await;
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn an_unknown_job_is_not_found() {
    let (base, client) = start(0).await;
    assert_eq!(result(&base, &client, "no-such-job").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_students_have_a_jpeg_reference_photo_unless_nophoto() {
    let (base, client) = start(0).await;
    let response = client.get(format!("{base}/photos/20231001.jpg")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.unwrap().as_ref(), TINY_JPEG.as_slice());

    for missing in ["s-nophoto-1.jpg", "20231001.png"] {
        let response = client.get(format!("{base}/photos/{missing}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn the_same_idempotency_key_gets_the_same_job_and_no_second_one() {
    let (base, client) = start(0).await;
    let (status, first) = submit_keyed(&base, &client, "20231001", "key-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, again) = submit_keyed(&base, &client, "20231001", "key-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["job_id"], first["job_id"]);
    let (_, other) = submit_keyed(&base, &client, "20231001", "key-2").await;
    assert_ne!(other["job_id"], first["job_id"]);

    let journal = journal(&base, &client).await;
    assert_eq!(entries_of(&journal, "jobs", "20231001").len(), 2);
    let keys: Vec<_> =
        entries_of(&journal, "submits", "20231001").iter().map(|s| s["idempotency_key"].clone()).collect();
    assert_eq!(keys, ["key-1", "key-1", "key-2"]);
}

#[tokio::test]
async fn a_submit503_student_is_refused_once_without_a_job_then_taken() {
    let (base, client) = start(0).await;
    let (status, _) = submit_keyed(&base, &client, "s_submit503_1", "k").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = submit_keyed(&base, &client, "s_submit503_1", "k").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let journal = journal(&base, &client).await;
    assert_eq!(entries_of(&journal, "jobs", "s_submit503_1").len(), 1);
    let statuses: Vec<_> =
        entries_of(&journal, "submits", "s_submit503_1").iter().map(|s| s["status"].clone()).collect();
    assert_eq!(statuses, [503, 202]);
}

#[tokio::test]
async fn a_submit500_student_has_the_job_taken_but_is_answered_500() {
    let (base, client) = start(0).await;
    let (status, _) = submit_keyed(&base, &client, "s_submit500_1", "k").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let journal = journal(&base, &client).await;
    let jobs = entries_of(&journal, "jobs", "s_submit500_1");
    assert_eq!(jobs.len(), 1, "the job was taken");
    let submits = entries_of(&journal, "submits", "s_submit500_1");
    assert_eq!(submits[0]["job_id"], jobs[0]["job_id"]);
    // The same key later gets that job; a keyless retry would make a second.
    let (status, again) = submit_keyed(&base, &client, "s_submit500_1", "k").await;
    assert_eq!((status, &again["job_id"]), (StatusCode::ACCEPTED, &jobs[0]["job_id"]));
}

#[tokio::test]
async fn a_stuck_student_stays_pending() {
    let (base, client) = start(0).await;
    let job_id = submit(&base, &client, "s_stuck_1").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, text) = result(&base, &client, &job_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "PENDING");
}

#[tokio::test]
async fn slowphoto_and_slowsubmit_students_wait_the_slow_delay() {
    let (base, client) = start_with(Config { standin_slow_delay_ms: 300, ..Config::default() }).await;
    let started = Instant::now();
    let response = client.get(format!("{base}/photos/s_slowphoto_1.jpg")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());

    let started = Instant::now();
    let (status, _) = submit_keyed(&base, &client, "s_slowsubmit_1", "k").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    let started = Instant::now();
    submit_keyed(&base, &client, "s_slowsubmit_1", "k").await;
    assert!(started.elapsed() < Duration::from_millis(300), "a repeat is answered at once");
}

#[tokio::test]
async fn redirect_answers_302_to_the_target() {
    let (base, client) = start(0).await;
    let response = client.get(format!("{base}/redirect?to=http://169.254.169.254/latest")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "http://169.254.169.254/latest");
}
