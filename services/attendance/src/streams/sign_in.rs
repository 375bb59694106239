//! What every long-lived stream carries besides its data: a slot among its
//! user's open streams, and a watch on the sign-in it was opened with.
//!
//! A token is checked once, when the stream opens, so without this a
//! stream would outlive a logout or the token's expiry by hours. Each stream
//! ends with UNAUTHENTICATED at the token's expiry, or as soon as its
//! logout reaches this replica (the revocation feed; a moment after a
//! logout on any replica). When revocations may have been missed (Redis
//! reconnected), every stream asks Redis whether its token still holds.
//!
//! A user may hold `ATTN_STREAMS_PER_USER` streams at once on each replica;
//! the next is refused with RESOURCE_EXHAUSTED. (Per replica: the bound is
//! on what one user can make one replica hold in memory and tasks.)

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::{
    TokenStore,
    revocations::{RevocationFeed, Revoked},
};
use tokio::sync::broadcast::{self, error::RecvError};
use tonic::Status;

/// Open streams per user on this replica.
pub struct StreamSlots {
    per_user: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream's place; given back when dropped.
pub struct StreamSlot {
    user: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamSlots {
    pub fn new(per_user: usize) -> Self {
        Self { per_user: per_user.max(1), open: Arc::default() }
    }

    /// A slot for one more stream of `user`, unless they hold the most already.
    pub fn take(&self, user: &str) -> ApiResult<StreamSlot> {
        let mut open = self.open.lock().expect("stream slots");
        let count = open.entry(user.to_owned()).or_default();
        if *count >= self.per_user {
            return Err(ApiError::new(
                Reason::TooManyStreams,
                format!(
                    "you have {} streams open, the most allowed (ATTN_STREAMS_PER_USER); close one first",
                    self.per_user
                ),
            )
            .with("limit", self.per_user));
        }
        *count += 1;
        Ok(StreamSlot { user: user.to_owned(), open: self.open.clone() })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("stream slots");
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// The sign-in behind one stream, watched until it ends.
pub struct SignInWatch {
    token_hash: String,
    expires_ms: i64,
    revocations: broadcast::Receiver<Revoked>,
    tokens: TokenStore,
    /// Holds the user's slot for as long as the stream lives.
    _slot: StreamSlot,
}

impl SignInWatch {
    pub fn new(caller: &Caller, feed: &RevocationFeed, tokens: TokenStore, slot: StreamSlot) -> Self {
        Self {
            token_hash: caller.token_hash.clone(),
            expires_ms: caller.sign_in.expires_ms,
            revocations: feed.subscribe(),
            tokens,
            _slot: slot,
        }
    }

    /// Resolves, with the status to end the stream with, once the sign-in
    /// has ended: expired, logged out, or found gone after a reconnect.
    pub async fn ended(&mut self) -> Status {
        // The wall clock, not the handlers' injected one: a sign-in expires
        // when the auth layer (and its key's TTL in Redis) says it does.
        let now_ms = chrono::Utc::now().timestamp_millis();
        let expires_in = Duration::from_millis(u64::try_from(self.expires_ms - now_ms).unwrap_or(0));
        let expiry = tokio::time::sleep(expires_in);
        tokio::pin!(expiry);
        loop {
            let revoked = tokio::select! {
                () = &mut expiry => return expired(),
                revoked = self.revocations.recv() => revoked,
            };
            match revoked {
                Ok(Revoked::Token(hash)) if *hash == *self.token_hash => return signed_out(),
                Ok(Revoked::Token(_)) => {}
                Ok(Revoked::Unknown) | Err(RecvError::Lagged(_)) => {
                    match self.tokens.is_signed_in(&self.token_hash).await {
                        Ok(true) => {}
                        Ok(false) => return signed_out(),
                        // Redis is down: nobody can sign out meanwhile; ask again at the next signal.
                        Err(err) => tracing::warn!(error = %err, "could not check a stream's sign-in; keeping it open"),
                    }
                }
                // No feed any more: only the expiry can end the stream.
                Err(RecvError::Closed) => {
                    (&mut expiry).await;
                    return expired();
                }
            }
        }
    }
}

fn expired() -> Status {
    ApiError::new(Reason::TokenExpired, "your sign-in has expired; sign in again").into()
}

fn signed_out() -> Status {
    ApiError::new(Reason::SignedOut, "your sign-in has ended (signed out); sign in again").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_limit_and_a_closed_stream_frees_its_slot() {
        let slots = StreamSlots::new(2);
        let first = slots.take("s1").unwrap();
        let _second = slots.take("s1").unwrap();
        assert!(matches!(slots.take("s1"), Err(err) if err.reason() == Reason::TooManyStreams));
        let _other = slots.take("s2").expect("another user is not held up");
        drop(first);
        slots.take("s1").expect("a closed stream's slot is free again");
    }
}
