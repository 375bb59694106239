//! The client of the external face gateway (DESIGN.md, "The face gateway"):
//! `POST {gateway}/submit-job` and `GET {gateway}/results/{job_id}`, over
//! one pooled reqwest client with timeouts, bounded retries and size limits;
//! reference photos over a second client kept to public addresses.
//!
//! Selfies and photos are never logged; job ids and student numbers are.

mod error;
mod photo;
mod photo_guard;
mod transport;
mod wire;

use std::time::Duration;

use anyhow::Context as _;
use attn_domain::{download_address::AllowList, selfie::ImageKind};
use bytes::Bytes;
use reqwest::{Client, StatusCode, Url, multipart};
use tracing::Instrument as _;

pub use error::{GatewayError, Upstream};
pub use photo_guard::PhotoRefused;
use tokio::time::Instant;
use transport::{Budget, Retry};
pub use wire::{JobResult, JobStatus};

/// The header that lets the gateway recognise a submission it already took.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Gateway answers are a few short JSON fields; anything this big is broken.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Connecting should be quick on a campus network; a host that does not
/// answer a SYN fails fast and gets retried instead of eating the timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub base_url: Url,
    /// Per attempt, connecting included.
    pub timeout: Duration,
    /// Extra attempts after connect errors and 5xx answers.
    pub retries: u32,
    /// Largest selfie or reference photo accepted or downloaded.
    pub max_image_bytes: usize,
    pub photo_timeout: Duration,
    /// Photo hosts exempt from the public-addresses-only rule.
    pub photo_allowed: AllowList,
}

/// An image already checked to be a JPEG or PNG within the limit.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: Bytes,
    pub kind: ImageKind,
}

#[derive(Debug, Clone)]
pub struct FaceGateway {
    client: Client,
    photos: Client,
    settings: GatewaySettings,
}

impl FaceGateway {
    pub fn new(settings: GatewaySettings) -> anyhow::Result<Self> {
        // reqwest is built with `rustls-no-provider`: it takes the process's
        // default crypto provider and panics without one. ATTN uses ring (no
        // aws-lc toolchain needed). An `Err` means a provider is already
        // installed, which reqwest will use just the same.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
            .timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("attn-verification-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("could not build the face gateway's HTTP client")?;
        let photos = photo::photo_client(&settings)?;
        Ok(Self { client, photos, settings })
    }

    pub fn base_url(&self) -> &Url {
        &self.settings.base_url
    }

    pub fn max_image_bytes(&self) -> usize {
        self.settings.max_image_bytes
    }

    /// Posts the selfie and the reference photo; the gateway's job id. Every
    /// attempt carries `idempotency_key`, so a gateway that honours it makes
    /// one job however many attempts reach it.
    pub async fn submit_job(
        &self,
        student: &str,
        selfie: &Image,
        reference: &Image,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<String, GatewayError> {
        let url = self.endpoint(&["submit-job"]);
        let budget = self.budget(self.settings.timeout, deadline);
        let span = client_span("face_gateway submit", "POST", &url);
        let send = transport::send(Upstream::FaceGateway, Retry::OnlyIfNotTaken, budget, || {
            let form = multipart::Form::new()
                .part("picture", image_part(selfie, "selfie"))
                .part("intended_picture", image_part(reference, "reference"))
                .text("student_school_number", student.to_owned());
            self.client
                .post(url.clone())
                .headers(attn_telemetry::trace_context_headers())
                .header(IDEMPOTENCY_KEY, idempotency_key)
                .multipart(form)
        });
        let (status, body) = answer_in(span, send).await?;
        match status {
            status if status.is_success() => wire::parse_submitted(&body),
            status if status.is_client_error() => {
                Err(GatewayError::Refused { status: status.as_u16(), detail: transport::excerpt(&body) })
            }
            status => Err(GatewayError::UnexpectedStatus { status: status.as_u16() }),
        }
    }

    /// Reads a job's result.
    pub async fn job_result(&self, job_id: &str, deadline: Instant) -> Result<JobResult, GatewayError> {
        let url = self.endpoint(&["results", job_id]);
        let budget = self.budget(self.settings.timeout, deadline);
        let span = client_span("face_gateway result", "GET", &url);
        let send = transport::send(Upstream::FaceGateway, Retry::AnyServerError, budget, || {
            self.client.get(url.clone()).headers(attn_telemetry::trace_context_headers())
        });
        let (status, body) = answer_in(span, send).await?;
        match status {
            status if status.is_success() => wire::parse_result(&body),
            StatusCode::NOT_FOUND => Err(GatewayError::UnknownJob { job_id: job_id.to_owned() }),
            status if status.is_client_error() => {
                Err(GatewayError::Refused { status: status.as_u16(), detail: transport::excerpt(&body) })
            }
            status => Err(GatewayError::UnexpectedStatus { status: status.as_u16() }),
        }
    }

    fn budget(&self, per_attempt: Duration, deadline: Instant) -> Budget {
        Budget { retries: self.settings.retries, per_attempt, deadline }
    }

    /// The base URL with path segments added, each percent-encoded, so a job
    /// id can never step outside `/results/`.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut().expect("an http(s) URL has a path").pop_if_empty().extend(segments);
        url
    }
}

/// The client span of one call to the gateway, retries included. Its
/// context goes out as `traceparent` on every attempt, so the gateway's own
/// spans (if it traces) join the check-in's trace. No query or body is
/// recorded: the path holds at most a job id.
fn client_span(name: &'static str, method: &'static str, url: &Url) -> tracing::Span {
    tracing::info_span!(
        "face_gateway",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        url.path = url.path(),
        server.address = url.host_str().unwrap_or_default(),
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Marks the span failed when the call failed, and passes the result on.
/// Sends one gateway call (its retries included) inside its client `span`,
/// which the request's `traceparent` names: the answer's status and body (at
/// most `MAX_ANSWER_BYTES`), with the status or the error recorded on the span.
async fn answer_in(
    span: tracing::Span,
    send: impl std::future::Future<Output = Result<reqwest::Response, GatewayError>>,
) -> Result<(StatusCode, Bytes), GatewayError> {
    let answer = async {
        let response = send.await?;
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        let body = transport::read_limited(Upstream::FaceGateway, response, MAX_ANSWER_BYTES).await?;
        Ok((status, body))
    };
    ended(answer.instrument(span.clone()).await, &span)
}

fn ended<T>(result: Result<T, GatewayError>, span: &tracing::Span) -> Result<T, GatewayError> {
    if let Err(err) = &result {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", err.label());
    }
    result
}

fn image_part(image: &Image, name: &str) -> multipart::Part {
    let extension = match image.kind {
        ImageKind::Jpeg => "jpg",
        ImageKind::Png => "png",
    };
    // Cloning `Bytes` is a reference count, so a retry costs no copy.
    multipart::Part::stream_with_length(image.bytes.clone(), image.bytes.len() as u64)
        .file_name(format!("{name}.{extension}"))
        .mime_str(image.kind.mime())
        .expect("image/jpeg and image/png are valid MIME types")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(base: &str) -> FaceGateway {
        FaceGateway::new(GatewaySettings {
            base_url: Url::parse(base).unwrap(),
            timeout: Duration::from_secs(1),
            retries: 0,
            max_image_bytes: 1024,
            photo_timeout: Duration::from_secs(1),
            photo_allowed: AllowList::default(),
        })
        .unwrap()
    }

    #[test]
    fn endpoints_are_added_to_the_base_path_with_job_ids_encoded() {
        let gateway = gateway("https://faces.example.edu/api/");
        assert_eq!(gateway.endpoint(&["submit-job"]).as_str(), "https://faces.example.edu/api/submit-job");
        assert_eq!(
            gateway.endpoint(&["results", "../admin?x"]).as_str(),
            "https://faces.example.edu/api/results/..%2Fadmin%3Fx"
        );
        let bare = self::gateway("http://127.0.0.1:8090");
        assert_eq!(bare.endpoint(&["results", "j1"]).as_str(), "http://127.0.0.1:8090/results/j1");
    }
}
