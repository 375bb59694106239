//! Sending with bounded retries, and reading answers with a size limit.
//!
//! What is retried depends on whether asking twice is harmless ([`Retry`]):
//! reads are retried after connect errors and any 5xx; a submission only
//! when the gateway cannot have taken it — a connect error (it never got
//! there), 503 or 429 (the gateway says it did not take it). Any other 5xx
//! to a submission may come after the job was taken, so it is not retried.
//! Timeouts are never retried (the gateway may have taken the job), and
//! neither are 4xx (asking again would get the same answer).
//!
//! Every attempt, and every backoff sleep, fits inside the caller's
//! deadline: an attempt gets at most the time left, and none is started (nor
//! slept towards) once it could not finish in time. The waits between
//! attempts are backon's exponential backoff with jitter, so that many
//! check-ins failing together do not come back together.

use std::{
    error::Error as _,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    time::Duration,
};

use backon::{ExponentialBuilder, Retryable as _};
use bytes::{Bytes, BytesMut};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::time::Instant;

use super::{GatewayError, Upstream, photo::refused, photo_guard::refusal_in};

/// The first wait; each next one doubles, up to [`MAX_BACKOFF`], and each
/// gets a random extra of up to its own length (jitter).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Which failed answers may be asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Reads (results, photos): asking twice changes nothing.
    AnyServerError,
    /// Submissions: only answers saying the job was not taken.
    OnlyIfNotTaken,
}

impl Retry {
    fn retries(self, status: StatusCode) -> bool {
        match self {
            Self::AnyServerError => status.is_server_error(),
            Self::OnlyIfNotTaken => matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS),
        }
    }
}

/// How many attempts a call may make, how long each may take, and when all
/// of them must be done.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    pub retries: u32,
    pub per_attempt: Duration,
    pub deadline: Instant,
}

/// How one attempt failed: worth another attempt, or the answer.
#[derive(Debug)]
enum Failed {
    Retryable(GatewayError),
    Final(GatewayError),
}

impl Failed {
    fn into_error(self) -> GatewayError {
        match self {
            Self::Retryable(error) | Self::Final(error) => error,
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retryable(error) | Self::Final(error) => error.fmt(f),
        }
    }
}

/// The waits between attempts: `retries` of them at most.
fn backoff(retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .with_max_times(retries as usize)
        .with_jitter()
}

/// Sends the request `build` makes, up to `retries + 1` times. A 5xx (or a
/// retried 429) on the last attempt, or one not retried, is an error; any
/// other answer is returned for the caller to judge.
pub(super) async fn send(
    upstream: Upstream,
    retry: Retry,
    budget: Budget,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, GatewayError> {
    // Atomics, not Cells: the future is sent between threads.
    let attempts = AtomicU32::new(0);
    let out_of_time = AtomicBool::new(false);
    let attempt = || async {
        let left = budget.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failed::Final(GatewayError::OutOfTime));
        }
        let attempts = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let sent = build().timeout(budget.per_attempt.min(left)).send().await;
        // A photo address the rules refuse: asking again gets the same refusal.
        if let Err(err) = &sent
            && let Some(refusal) = refusal_in(err)
        {
            return Err(Failed::Final(refused(refusal)));
        }
        match sent {
            Ok(response) if retry.retries(response.status()) => Err(Failed::Retryable(GatewayError::ServerError {
                upstream,
                status: response.status().as_u16(),
                attempts,
            })),
            Ok(response) if response.status().is_server_error() => {
                Err(Failed::Final(GatewayError::ServerError { upstream, status: response.status().as_u16(), attempts }))
            }
            Ok(response) => Ok(response),
            Err(err) if err.is_timeout() && Instant::now() >= budget.deadline => {
                Err(Failed::Final(GatewayError::OutOfTime))
            }
            Err(err) if err.is_connect() => {
                Err(Failed::Retryable(GatewayError::Unreachable { upstream, attempts, detail: describe(&err) }))
            }
            Err(err) => Err(Failed::Final(transport_error(upstream, attempts, &err))),
        }
    };
    let answer = attempt
        .retry(backoff(budget.retries))
        .sleep(tokio::time::sleep)
        .when(|failed| matches!(failed, Failed::Retryable(_)))
        .adjust(|failed, wait| {
            // No sleeping towards an attempt that could not finish in time.
            let wait = wait?;
            if Instant::now() + wait >= budget.deadline {
                tracing::debug!(error = %failed, "no time left for another attempt");
                out_of_time.store(true, Ordering::Relaxed);
                return None;
            }
            Some(wait)
        })
        .notify(|failed, wait| tracing::debug!(error = %failed, ?wait, "retrying"))
        .await;
    answer.map_err(
        |failed| if out_of_time.load(Ordering::Relaxed) { GatewayError::OutOfTime } else { failed.into_error() },
    )
}

/// Reads the body, refusing more than `limit` bytes without buffering them.
pub(super) async fn read_limited(
    upstream: Upstream,
    mut response: Response,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    let too_large = GatewayError::TooLarge { upstream, limit };
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| transport_error(upstream, 1, &err))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A short, printable piece of a refusal's body, for the caller's message.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.trim().is_empty() { "(no detail)".into() } else { text }
}

fn transport_error(upstream: Upstream, attempts: u32, err: &reqwest::Error) -> GatewayError {
    if err.is_timeout() {
        GatewayError::TimedOut { upstream }
    } else {
        GatewayError::Unreachable { upstream, attempts, detail: describe(err) }
    }
}

/// reqwest's own message hides the cause ("error sending request for url
/// …") and carries the URL, which for a photo may hold a signed token; the
/// cause chain says what happened (refused, reset, DNS) without it.
fn describe(err: &reqwest::Error) -> String {
    let mut text = String::from(if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    });
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_every_5xx_and_submissions_only_what_was_not_taken() {
        for status in [500, 502, 503, 504] {
            assert!(Retry::AnyServerError.retries(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        assert!(!Retry::AnyServerError.retries(StatusCode::TOO_MANY_REQUESTS));
        assert!(Retry::OnlyIfNotTaken.retries(StatusCode::SERVICE_UNAVAILABLE));
        assert!(Retry::OnlyIfNotTaken.retries(StatusCode::TOO_MANY_REQUESTS));
        for status in [500, 502, 504] {
            assert!(!Retry::OnlyIfNotTaken.retries(StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }

    #[test]
    fn waits_double_with_jitter_are_capped_and_counted() {
        use backon::BackoffBuilder as _;
        let waits: Vec<Duration> = backoff(8).build().collect();
        assert_eq!(waits.len(), 8, "one wait per retry");
        for (n, wait) in waits.iter().enumerate() {
            let base = FIRST_BACKOFF.saturating_mul(1 << n).min(MAX_BACKOFF);
            // Jitter adds up to one more base length, never less than the base.
            assert!(*wait >= base && *wait <= base * 2, "wait {n}: {wait:?} against base {base:?}");
        }
        assert_eq!(backoff(0).build().count(), 0, "no retries, no waits");
    }

    #[test]
    fn an_excerpt_is_short_and_printable() {
        assert_eq!(excerpt(b"bad\nimage"), "badimage");
        assert_eq!(excerpt(b""), "(no detail)");
        assert_eq!(excerpt(&[b'x'; 500]).len(), 200);
    }
}
