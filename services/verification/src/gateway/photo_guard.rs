//! Keeps reference-photo downloads on public addresses (see
//! `attn_domain::download_address`). A URL comes from the roster, so without
//! this it could reach the cloud metadata service or any internal host.
//!
//! Three doors, one rule: a literal IP in the URL is checked before the
//! request (the connector never asks DNS about it), every address DNS
//! returns is checked by the resolver, and every redirect hop is checked by
//! the redirect policy. The face gateway's own client is not guarded: the
//! operator chose its URL, and it usually sits on a private network.

use std::{
    error::Error as _,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use attn_domain::download_address::{self, AllowList, Refusal};
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

/// A photo host may redirect (a CDN, a signed link) but not bounce for ever.
pub const MAX_REDIRECTS: usize = 3;

/// Why a photo download was not made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PhotoRefused {
    #[error("{host} is {reason}")]
    Address { host: String, reason: Refusal },
    #[error("it redirects more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
    #[error("it redirects to a {scheme}: URL")]
    Scheme { scheme: String },
}

/// The resolver of the photo client: drops refused addresses, and fails if
/// none is left, so no connection is ever made to one.
#[derive(Debug, Clone)]
pub struct PublicOnly {
    allowed: Arc<AllowList>,
}

impl PublicOnly {
    pub fn new(allowed: Arc<AllowList>) -> Self {
        Self { allowed }
    }
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match download_address::check(&host, addr.ip(), &allowed) {
                    Ok(()) => true,
                    Err(reason) => {
                        refused.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if let (true, Some(reason)) = (kept.is_empty(), refused) {
                return Err(Box::new(PhotoRefused::Address { host, reason }) as _);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Follows at most [`MAX_REDIRECTS`] redirects, each to an http(s) URL
/// whose literal address (if it has one) passes the rule.
pub fn redirect_policy(allowed: Arc<AllowList>) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` holds the first URL and every hop followed so far.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(PhotoRefused::TooManyRedirects);
        }
        match check_literal(attempt.url(), &allowed) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    })
}

/// Checks a URL whose host is an IP address; host names are left to the
/// resolver, which sees what they resolve to.
pub fn check_literal(url: &Url, allowed: &AllowList) -> Result<(), PhotoRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PhotoRefused::Scheme { scheme: url.scheme().to_owned() });
    }
    let host = url.host_str().unwrap_or_default();
    let Ok(addr) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
        return Ok(());
    };
    download_address::check(host, addr, allowed)
        .map_err(|reason| PhotoRefused::Address { host: host.to_owned(), reason })
}

/// The refusal behind a failed request, wherever reqwest and hyper wrapped it.
pub fn refusal_in(err: &reqwest::Error) -> Option<PhotoRefused> {
    let mut cause = err.source();
    while let Some(err) = cause {
        if let Some(refused) = err.downcast_ref::<PhotoRefused>() {
            return Some(refused.clone());
        }
        cause = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, allowed: &str) -> Option<PhotoRefused> {
        let allowed = AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", allowed).unwrap();
        check_literal(&Url::parse(url).unwrap(), &allowed).err()
    }

    #[test]
    fn a_literal_metadata_address_is_refused_before_any_request() {
        let err = refused("http://169.254.169.254/latest/meta-data/", "").unwrap();
        assert!(matches!(err, PhotoRefused::Address { reason: Refusal::LinkLocal, .. }), "{err}");
        assert_eq!(err.to_string(), "169.254.169.254 is a link-local address (where cloud metadata services live)");
    }

    #[test]
    fn a_literal_ipv6_loopback_is_refused_and_an_allow_listed_one_is_not() {
        assert!(refused("http://[::1]:8090/p.jpg", "").is_some());
        assert!(refused("http://[::1]:8090/p.jpg", "::1").is_none());
    }

    #[test]
    fn host_names_are_left_to_the_resolver() {
        assert!(refused("http://localhost:8090/p.jpg", "").is_none());
    }

    #[test]
    fn only_http_and_https_are_followed() {
        assert!(matches!(refused("file:///etc/passwd", ""), Some(PhotoRefused::Scheme { .. })));
    }
}
