//! The one loop that keeps a stream in step with its session's events.
//!
//! A stream subscribes to the session's events first, then reads a
//! snapshot, then applies events strictly in version order (see
//! `attn_store::events`). A gap in the events (a lost event, or the client
//! falling behind the feed) is closed by reading the session afresh.

use std::future::Future;

use attn_store::events::{HubMessage, SessionEvent, Step, Subscription, next_step};
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;

use super::Outbox;

/// What a stream sends next, and whether it goes on.
pub enum Next<T> {
    /// Send this and go on.
    Send(T),
    /// Send this fresh view of the session, and go on from its version.
    Resynced { version: u64, message: T },
    /// Send this (a message or the error) and end.
    Last(Result<T, Status>),
    /// Nothing to send; go on.
    Skip,
    /// Nothing to send; end.
    End,
}

/// What one kind of stream makes of its session.
pub trait Feed: Send {
    type Message: Send + 'static;

    /// Reads the session afresh, after a gap in its events.
    fn resync(&mut self) -> impl Future<Output = Next<Self::Message>> + Send;

    /// What to send for an event, the very next after the last applied.
    fn apply(&mut self, event: &SessionEvent) -> impl Future<Output = Next<Self::Message>> + Send;
}

/// Sends `first` (the session as of `version`), then follows the session's
/// events through `feed` until the feed ends the stream or the stream ends
/// early (see [`Outbox::until_stream_ends`]).
pub async fn follow<F: Feed>(
    mut feed: F,
    first: F::Message,
    version: u64,
    mut subscription: Subscription,
    mut outbox: Outbox<F::Message>,
) {
    let mut last = version;
    if !outbox.send(Ok(first)).await {
        return;
    }
    loop {
        let Some(message) = outbox.until_stream_ends(subscription.receiver.recv()).await else {
            return;
        };
        let next = match message {
            Ok(HubMessage::Event(event)) => match next_step(last, event.version()) {
                Step::Skip => continue,
                Step::Apply => {
                    last = event.version();
                    feed.apply(&event).await
                }
                Step::Resync => feed.resync().await,
            },
            Ok(HubMessage::Resync) | Err(RecvError::Lagged(_)) => feed.resync().await,
            Err(RecvError::Closed) => return,
        };
        let message = match next {
            Next::Send(message) => message,
            Next::Resynced { version, message } => {
                last = version;
                message
            }
            Next::Last(item) => {
                let _ = outbox.send(item).await;
                return;
            }
            Next::Skip => continue,
            Next::End => return,
        };
        if !outbox.send(Ok(message)).await {
            return;
        }
    }
}
