//! Logouts as they happen, from every replica.
//!
//! Logout deletes the token and publishes its hash on the `tokens_revoked`
//! channel ([`crate::TokenStore::revoke`]). Each replica follows that
//! channel once and hands each revocation to whoever listens: the sign-in
//! cache forgets the token, and open streams of that token end. Pub/sub can
//! lose messages while the connection is down, so a reconnect (or a reader
//! that fell behind) is passed on as [`Revoked::Unknown`]: any token may
//! have been revoked meanwhile, and listeners check again.

use std::sync::Arc;

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, EventInterface, PubsubInterface},
};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{Keys, StoreResult, redis::RedisSettings};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The token with this hash was logged out.
    Token(Arc<str>),
    /// Revocations may have been missed: check every token again.
    Unknown,
}

/// Revocations a listener may fall behind by before it gets [`Revoked::Unknown`].
const QUEUE: usize = 1_024;

pub struct RevocationFeed {
    client: SubscriberClient,
    sender: broadcast::Sender<Revoked>,
}

impl RevocationFeed {
    /// Subscribes to revocations from every replica and keeps following them
    /// (re-subscribing after a reconnect) for the life of the process.
    pub async fn follow(settings: &RedisSettings, keys: &Keys) -> StoreResult<Arc<Self>> {
        // Logouts come one by one; a reader that lags is told to check again anyway.
        let client = crate::redis::connect_subscriber(settings, 256).await?;
        let _resubscriber = client.manage_subscriptions();
        client.subscribe(keys.revoked_tokens()).await?;
        let (sender, _) = broadcast::channel(QUEUE);
        let feed = Arc::new(Self { client, sender });
        let mut messages = feed.client.message_rx();
        let mut reconnects = feed.client.reconnect_rx();
        let sender = feed.sender.clone();
        tokio::spawn(async move {
            loop {
                let revoked = tokio::select! {
                    message = messages.recv() => match message {
                        Ok(message) => message.value.as_string().map_or(Revoked::Unknown, |hash| Revoked::Token(hash.into())),
                        Err(RecvError::Lagged(_)) => Revoked::Unknown,
                        Err(RecvError::Closed) => break,
                    },
                    reconnect = reconnects.recv() => match reconnect {
                        Ok(_) | Err(RecvError::Lagged(_)) => Revoked::Unknown,
                        Err(RecvError::Closed) => break,
                    },
                };
                let _ = sender.send(revoked);
            }
            // The feed is gone for good: whatever listens must not trust what it has.
            let _ = sender.send(Revoked::Unknown);
        });
        Ok(feed)
    }

    /// Revocations from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Revoked> {
        self.sender.subscribe()
    }

    /// Whether revocations are arriving right now.
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }
}
