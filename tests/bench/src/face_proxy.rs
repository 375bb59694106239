//! A recording pass-through in front of the stand-in face gateway.
//!
//! verification-service talks to the gateway through it
//! (`ATTN_FACE_GATEWAY_URL`), so the benchmark learns which job belongs to
//! which student from the gateway contract itself (`POST /submit-job` with
//! `student_school_number` → `202 {"job_id"}`), without depending on how
//! ATTN stores its queue. It adds one loopback hop (well under a
//! millisecond) to each gateway call.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio::{net::TcpListener, task::JoinHandle};

const BODY_LIMIT: usize = 64 * 1024 * 1024;

struct Shared {
    upstream: String,
    client: reqwest::Client,
    /// Student number → the gateway's job id.
    jobs: Mutex<HashMap<String, String>>,
}

pub struct FaceProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a crypto provider; ATTN uses ring (see verification-service).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")
}

impl FaceProxy {
    pub async fn start(listen: SocketAddr, upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: http_client()?,
            jobs: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("the face gateway proxy stopped: {err}");
            }
        });
        Ok(Self { url, shared, task })
    }

    pub fn job_of(&self, student: &str) -> Option<String> {
        self.shared.jobs.lock().expect("job map").get(student).cloned()
    }

    /// Asks the stand-in (directly) when the job became final.
    pub async fn finished_at_ms(&self, job_id: &str) -> anyhow::Result<Option<u64>> {
        let url = format!("{}/results/{job_id}", self.shared.upstream);
        let answer: serde_json::Value =
            self.shared.client.get(&url).send().await?.error_for_status()?.json().await.context("not JSON")?;
        Ok(answer.get("finished_at_ms").and_then(serde_json::Value::as_u64))
    }
}

impl Drop for FaceProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "bench proxy: body too large").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = shared.client.request(parts.method.clone(), format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if ![header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING].contains(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.body(body.clone()).send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("bench proxy: {err}")).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(answer_body) = answer.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "bench proxy: upstream body unreadable").into_response();
    };
    if parts.method == Method::POST && parts.uri.path() == "/submit-job" && status == StatusCode::ACCEPTED {
        remember_job(&shared, &body, &answer_body);
    }
    let mut response = (status, answer_body).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response
}

fn remember_job(shared: &Shared, request: &Bytes, answer: &Bytes) {
    let student = multipart_text_field(request, "student_school_number");
    let job = serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| v.get("job_id").and_then(|j| j.as_str()).map(str::to_owned));
    if let (Some(student), Some(job)) = (student, job) {
        shared.jobs.lock().expect("job map").insert(student, job);
    }
}

/// The value of a small text field in a multipart/form-data body.
fn multipart_text_field(body: &[u8], name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = find(body, marker.as_bytes())?;
    let value_start = at + find(&body[at..], b"\r\n\r\n")? + 4;
    let value_len = find(&body[value_start..], b"\r\n")?;
    Some(String::from_utf8_lossy(&body[value_start..value_start + value_len]).trim().to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_student_number_is_read_from_a_multipart_body() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"picture\"; filename=\"s.jpg\"\r\n\r\n\xff\xd8\r\n\
                     --b\r\nContent-Disposition: form-data; name=\"student_school_number\"\r\n\r\nbx-s00007\r\n--b--\r\n";
        assert_eq!(multipart_text_field(body, "student_school_number").as_deref(), Some("bx-s00007"));
        assert_eq!(multipart_text_field(body, "missing"), None);
    }
}
