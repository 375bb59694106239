//! Fetching a student's reference photo from its URL in the user directory:
//! the same pooled client and retry rules as the gateway, its own timeout,
//! and the image size limit enforced while reading.

use bytes::Bytes;
use reqwest::Url;

use super::{FaceGateway, GatewayError, Upstream, transport};

impl FaceGateway {
    /// The photo's bytes, unchecked: the caller checks they are an image.
    pub async fn fetch_reference_photo(&self, url: &Url) -> Result<Bytes, GatewayError> {
        let response = transport::send(Upstream::PhotoHost, self.settings.retries, || {
            self.client.get(url.clone()).timeout(self.settings.photo_timeout)
        })
        .await?;
        let status = response.status();
        if status.is_success() {
            return transport::read_limited(Upstream::PhotoHost, response, self.settings.max_image_bytes).await;
        }
        // A 4xx (most often 404) means no photo there; so does a redirect the
        // client would not follow. 5xx were retried and reported by `send`.
        Err(GatewayError::ReferencePhotoMissing { detail: format!("answered HTTP {}", status.as_u16()) })
    }
}
