//! The project's stand-in face gateway, for tests that need one.

use std::{net::SocketAddr, time::Duration};

use attn_runtime::Shutdown;
use serde::Deserialize;
use tokio::net::TcpListener;

/// A stand-in gateway on a loopback port, stopped when dropped.
pub struct Standin {
    pub addr: SocketAddr,
    stop: Shutdown,
}

/// One job as the stand-in's `/jobs` journal lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct JournalEntry {
    pub job_id: String,
    pub student_school_number: String,
    pub finished_at_ms: i64,
}

/// One `POST /submit-job` as the stand-in's journal lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct SubmitEntry {
    pub student_school_number: String,
    pub idempotency_key: Option<String>,
    /// The W3C `traceparent` header it carried (None from an untraced caller).
    #[serde(default)]
    pub traceparent: Option<String>,
    /// The HTTP status it was answered with.
    pub status: u16,
    pub job_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Journal {
    jobs: Vec<JournalEntry>,
    submits: Vec<SubmitEntry>,
}

impl Standin {
    /// Jobs become final `delay` after they are submitted; `slow` ones
    /// (and `slowphoto`, `slowsubmit` answers) take 3 s.
    pub async fn start(delay: Duration) -> Self {
        Self::start_with_slow(delay, Duration::from_secs(3)).await
    }

    /// As [`Standin::start`], with `slow` ones taking `slow`.
    pub async fn start_with_slow(delay: Duration, slow: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let config = face_gateway_standin::Config {
            standin_delay_ms: delay.as_millis() as u64,
            standin_slow_delay_ms: slow.as_millis() as u64,
            ..Default::default()
        };
        let stop = Shutdown::new();
        let stopped = stop.clone();
        crate::servers::spawn_watched(
            format!("the stand-in face gateway at {addr}"),
            stop.clone(),
            face_gateway_standin::serve(listener, config, async move { stopped.triggered().await }),
        );
        Self { addr, stop }
    }

    /// For `ATTN_FACE_GATEWAY_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// For `ATTN_DEMO_PHOTO_BASE_URL`.
    pub fn photos_url(&self) -> String {
        format!("http://{}/photos", self.addr)
    }

    /// Every job the stand-in was given, with when it became final.
    pub async fn journal(&self) -> Vec<JournalEntry> {
        self.read_journal().await.jobs
    }

    /// Every submission the stand-in got, oldest first.
    pub async fn submits(&self) -> Vec<SubmitEntry> {
        self.read_journal().await.submits
    }

    /// The jobs and the submissions of one student.
    pub async fn journal_of(&self, student: &str) -> (Vec<JournalEntry>, Vec<SubmitEntry>) {
        let journal = self.read_journal().await;
        (
            journal.jobs.into_iter().filter(|job| job.student_school_number == student).collect(),
            journal.submits.into_iter().filter(|submit| submit.student_school_number == student).collect(),
        )
    }

    async fn read_journal(&self) -> Journal {
        // reqwest here is built without a TLS provider of its own (ATTN uses ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::get(format!("{}/jobs", self.url()))
            .await
            .expect("the stand-in answers")
            .json()
            .await
            .expect("the journal is JSON")
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}
