//! AuthService: sign in, sign out, who am I.

use std::sync::Arc;

use attn_domain::{Role, validate};
use attn_proto::v1::{
    LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, WhoAmIRequest, WhoAmIResponse,
    auth_service_server::AuthService,
};
use attn_runtime::{ApiError, Caller, ClientAddress, Reason};
use attn_store::tokens::{SignIn, hash_token};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::{Request, Response, Status};

use crate::{context::Context, convert};

/// The same answer for an unknown user and a wrong password.
const WRONG_CREDENTIALS: &str = "wrong username or password";
const MAX_PASSWORD_BYTES: usize = 1024;

pub struct Auth {
    pub ctx: Arc<Context>,
}

/// 256 random bits, URL-safe: the client's copy of the token. Only its hash is stored.
fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[tonic::async_trait]
impl AuthService for Auth {
    #[tracing::instrument(skip_all)]
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let address = ClientAddress::of(&request);
        let LoginRequest { username, password } = request.into_inner();
        let username = validate::school_number("username", &username).map_err(ApiError::from)?;
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(ApiError::new(Reason::WrongCredentials, WRONG_CREDENTIALS).into());
        }
        self.ctx.limits.check_login(&username, address).await?;

        let user = self.ctx.archive.user(&username).await.map_err(ApiError::from)?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = self.ctx.passwords.verify(password, stored, self.ctx.decoy_hash.clone()).await;
        if let Err(err) = &verified
            && err.reason() == Reason::Overloaded
        {
            crate::measures::rate_limited(&self.ctx.metrics, "password_checks");
        }
        if !verified? {
            tracing::info!(%username, "sign-in refused");
            return Err(ApiError::new(Reason::WrongCredentials, WRONG_CREDENTIALS).into());
        }
        let user = user.expect("a verified password belongs to a user");

        let ttl = match user.role {
            Role::Teacher => self.ctx.token_ttl.teacher,
            Role::Student => self.ctx.token_ttl.student,
            Role::Admin => self.ctx.token_ttl.admin,
        };
        let started_ms = self.ctx.now_ms();
        let sign_in = SignIn {
            login_id: uuid::Uuid::now_v7(),
            school_number: user.school_number,
            full_name: user.full_name,
            role: user.role,
            photo_url: user.photo_url,
            started_ms,
            expires_ms: started_ms + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
        };
        let token = new_token();
        self.ctx.tokens.issue(&hash_token(&token), &sign_in).await.map_err(ApiError::from)?;
        tracing::info!(username = %sign_in.school_number, role = %sign_in.role, "signed in");
        Ok(Response::new(LoginResponse {
            access_token: token,
            expires_at: Some(convert::timestamp(sign_in.expires_ms)),
            user: Some(convert::user(&sign_in)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let caller = Caller::of(&request)?;
        self.ctx.tokens.revoke(&caller.token_hash, self.ctx.now_ms()).await.map_err(ApiError::from)?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(WhoAmIResponse {
            user: Some(convert::user(&caller.sign_in)),
            expires_at: Some(convert::timestamp(caller.sign_in.expires_ms)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
