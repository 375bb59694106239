//! Fetching a student's reference photo from its URL in the user directory:
//! its own client (public addresses only, see `photo_guard`), the gateway's
//! retry rules, its own timeout, and the image size limit enforced while
//! reading.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use reqwest::{Client, Url};
use tokio::time::Instant;

use super::{
    FaceGateway, GatewayError, GatewaySettings, MAX_CONNECT_TIMEOUT, Upstream,
    photo_guard::{self, PublicOnly},
    transport::{self, Retry},
};

/// The client for photo downloads only. No proxy: the address checks must
/// judge where the photo really is, not where a proxy is.
pub(super) fn photo_client(settings: &GatewaySettings) -> anyhow::Result<Client> {
    let allowed = Arc::new(settings.photo_allowed.clone());
    Client::builder()
        .dns_resolver(PublicOnly::new(allowed.clone()))
        .redirect(photo_guard::redirect_policy(allowed))
        .no_proxy()
        .connect_timeout(settings.photo_timeout.min(MAX_CONNECT_TIMEOUT))
        .timeout(settings.photo_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("attn-verification-service/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("could not build the reference photos' HTTP client")
}

impl FaceGateway {
    /// The photo's bytes, unchecked: the caller checks they are an image.
    pub async fn fetch_reference_photo(&self, url: &Url, deadline: Instant) -> Result<Bytes, GatewayError> {
        photo_guard::check_literal(url, &self.settings.photo_allowed).map_err(refused)?;
        let budget = self.budget(self.settings.photo_timeout, deadline);
        let response =
            transport::send(Upstream::PhotoHost, Retry::AnyServerError, budget, || self.photos.get(url.clone()))
                .await?;
        let status = response.status();
        if status.is_success() {
            return transport::read_limited(Upstream::PhotoHost, response, self.settings.max_image_bytes).await;
        }
        // A 4xx (most often 404) means no photo there. 5xx were retried and
        // reported by `send`.
        Err(GatewayError::ReferencePhotoMissing { detail: format!("answered HTTP {}", status.as_u16()) })
    }
}

/// Logged with the host and the reason only: the URL may carry a signed token.
pub(super) fn refused(refused: photo_guard::PhotoRefused) -> GatewayError {
    tracing::warn!(reason = %refused, "reference photo not downloaded: its address is not allowed");
    GatewayError::PhotoRefused(refused)
}
