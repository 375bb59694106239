//! Connecting to the services, waiting for them to be ready, signing in.

use std::time::Duration;

use anyhow::{Context as _, bail};
use attn_proto::v1::{LoginRequest, auth_service_client::AuthServiceClient};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// The `authorization` metadata of one signed-in user, parsed once so the
/// load generator does not re-parse it on every call.
pub type Token = MetadataValue<Ascii>;

/// One HTTP/2 connection. Each `Channel` made here is its own TCP
/// connection, so N of them spread a load over N connections.
pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{url} is not a URL"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

pub async fn connect_many(url: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        channels.push(connect(url).await?);
    }
    Ok(channels)
}

/// A request carrying a user's token.
pub fn authed<T>(message: T, token: &Token) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", token.clone());
    request
}

pub async fn login(channel: &Channel, username: &str, password: &str) -> anyhow::Result<Token> {
    let response = AuthServiceClient::new(channel.clone())
        .login(LoginRequest { username: username.to_owned(), password: password.to_owned() })
        .await
        .with_context(|| format!("{username} could not sign in"))?;
    let token = response.into_inner().access_token;
    format!("Bearer {token}").parse().context("the access token is not ASCII")
}

/// Polls `grpc.health.v1.Health/Check` until the server says SERVING, or
/// fails at the deadline. `alive` is asked between attempts, so a process
/// that died at start-up fails at once instead of at the deadline.
pub async fn wait_until_serving(
    url: &str,
    deadline: Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        alive()?;
        let last_error = match health_check(url).await {
            Ok(ServingStatus::Serving) => return Ok(()),
            Ok(status) => format!("health says {status:?}"),
            Err(err) => format!("{err:#}"),
        };
        if tokio::time::Instant::now() >= give_up {
            bail!("{url} was not SERVING within {deadline:?}: {last_error}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health_check(url: &str) -> anyhow::Result<ServingStatus> {
    let channel = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(1))
        .connect()
        .await?;
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(answer.into_inner().status())
}
