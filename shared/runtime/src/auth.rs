//! The one tower layer every ATTN server runs calls through.
//!
//! It works out the client's address (the TCP peer, or what a trusted proxy
//! reports), decides from the method path what the call needs
//! ([`attn_domain::access::required_access`]), checks the bearer token
//! against Redis (or the replica's sign-in cache) and the role, and hands
//! the handler a [`Caller`].
//! Handlers never parse tokens or headers themselves.

use std::{
    borrow::Cow,
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

pub use attn_domain::sign_in::SignIn;
use attn_domain::sign_in::hash_token;
use attn_domain::{
    Access, Role,
    access::required_access,
    client_address::{TrustedProxies, resolve_client_address},
};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Status, body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use crate::{ApiError, ApiResult, Reason};

/// The lookup the auth layer needs: who a token (by its hash) signs in at
/// `now_ms`, or `None` if it signs in no one (unknown, expired, logged out).
/// attn-store's `TokenStore` implements it, so this crate, and
/// verification-service with it, links no Redis or PostgreSQL client.
///
/// An error is one the store could not answer for: it is sent as it is
/// (a store that is down converts to UNAVAILABLE, DEPENDENCY_UNAVAILABLE).
pub trait SignIns: Send + Sync + 'static {
    fn sign_in<'a>(&'a self, token_hash: &'a str, now_ms: i64) -> SignInLookup<'a>;
}

/// What [`SignIns::sign_in`] returns: boxed, so the auth layer can hold
/// any store as `Arc<dyn SignIns>` (one small allocation per signed-in call).
pub type SignInLookup<'a> = Pin<Box<dyn Future<Output = ApiResult<Option<SignIn>>> + Send + 'a>>;

/// The signed-in user making a call.
#[derive(Debug, Clone)]
pub struct Caller {
    pub sign_in: SignIn,
    /// The hash of the token the call carried (for Logout).
    pub token_hash: String,
}

impl Caller {
    pub fn school_number(&self) -> &str {
        &self.sign_in.school_number
    }

    pub fn full_name(&self) -> &str {
        &self.sign_in.full_name
    }

    pub fn role(&self) -> Role {
        self.sign_in.role
    }

    /// The caller of a request the auth layer let through.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| ApiError::new(Reason::Unauthenticated, "this call needs a signed-in user").into())
    }
}

/// Where the call came from; `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    pub fn of<T>(request: &tonic::Request<T>) -> Option<IpAddr> {
        request.extensions().get::<ClientAddress>().and_then(|a| a.0)
    }
}

struct AuthConfig {
    /// None on services with no signed-in users (verification-service).
    tokens: Option<Arc<dyn SignIns>>,
    /// Required from other ATTN services when set.
    internal_token: Option<SecretString>,
    trusted_proxies: TrustedProxies,
}

#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<AuthConfig>,
}

impl AuthLayer {
    pub fn new(
        tokens: Option<Arc<dyn SignIns>>,
        internal_token: Option<SecretString>,
        trusted_proxies: TrustedProxies,
    ) -> Self {
        Self {
            config: Arc::new(AuthConfig {
                tokens,
                internal_token: internal_token.filter(|t| !t.expose_secret().is_empty()),
                trusted_proxies,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, config: self.config.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    config: Arc<AuthConfig>,
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Every `x-forwarded-for` value in order, joined with commas, as one list
/// (a client may send the header more than once); `None` if a value is not
/// readable text. The usual single header is borrowed, not copied.
fn forwarded_for(headers: &http::HeaderMap) -> Option<Cow<'_, str>> {
    let mut values = headers.get_all("x-forwarded-for").iter();
    let Some(first) = values.next() else {
        return Some(Cow::Borrowed(""));
    };
    let first = first.to_str().ok()?;
    let rest: Vec<&str> = values.map(|value| value.to_str().ok()).collect::<Option<_>>()?;
    if rest.is_empty() {
        return Some(Cow::Borrowed(first));
    }
    Some(Cow::Owned(std::iter::once(first).chain(rest).collect::<Vec<_>>().join(",")))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::Teacher => "teachers",
        Role::Student => "students",
        Role::Admin => "operators (role admin)",
    }
}

impl AuthConfig {
    async fn authorize(&self, access: Access, headers: &http::HeaderMap) -> Result<Option<Caller>, Status> {
        let role = match access {
            Access::Public => return Ok(None),
            Access::Internal => {
                // Without a token (development mode only) there is nothing to check.
                let Some(expected) = &self.internal_token else {
                    return Ok(None);
                };
                return match bearer(headers) {
                    Some(given) if same_secret(given, expected.expose_secret()) => Ok(None),
                    _ => {
                        Err(ApiError::new(Reason::ServiceTokenInvalid, "internal service token missing or wrong")
                            .into())
                    }
                };
            }
            Access::Denied => return Err(ApiError::new(Reason::MethodNotServed, "ATTN serves no such method").into()),
            Access::SignedIn => None,
            Access::Role(role) => Some(role),
        };
        let Some(token) = bearer(headers) else {
            return Err(ApiError::new(
                Reason::Unauthenticated,
                "missing `authorization: Bearer <token>` metadata; sign in with attn.v1.AuthService/Login",
            )
            .into());
        };
        let Some(tokens) = &self.tokens else {
            return Err(ApiError::new(Reason::Unauthenticated, "this service does not accept user tokens").into());
        };
        let token_hash = hash_token(token);
        let sign_in = tokens
            .sign_in(&token_hash, chrono::Utc::now().timestamp_millis())
            .await
            .map_err(Status::from)?
            .ok_or_else(|| {
            ApiError::new(Reason::TokenInvalid, "the token is invalid or has expired; sign in again")
        })?;
        if let Some(role) = role
            && sign_in.role != role
        {
            return Err(ApiError::new(
                Reason::WrongRole,
                format!("this call is for {}; you are signed in as a {}", role_phrase(role), sign_in.role),
            )
            .with("required_role", role)
            .with("role", sign_in.role)
            .into());
        }
        Ok(Some(Caller { sign_in, token_hash }))
    }
}

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready inner service goes with this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let peer = request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
                .map(|addr| addr.ip());
            let forwarded_for = forwarded_for(request.headers());
            let client = resolve_client_address(peer, forwarded_for.as_deref(), &config.trusted_proxies);
            let access = required_access(request.uri().path());
            match config.authorize(access, request.headers()).await {
                Ok(caller) => {
                    request.extensions_mut().insert(ClientAddress(client));
                    if let Some(caller) = caller {
                        tracing::Span::current().record("user", caller.school_number());
                        request.extensions_mut().insert(caller);
                    }
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn every_forwarded_for_header_is_read_in_order() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(forwarded_for(&headers).as_deref(), Some(""));
        headers.append("x-forwarded-for", "10.20.30.77".parse().unwrap());
        headers.append("x-forwarded-for", "10.1.1.1, 10.50.3.17".parse().unwrap());
        assert_eq!(forwarded_for(&headers).as_deref(), Some("10.20.30.77,10.1.1.1, 10.50.3.17"));
        headers.append("x-forwarded-for", http::HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(forwarded_for(&headers), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
