//! Live changes to sessions, fanned out to watchers on any replica.
//!
//! Every script that changes a session publishes `<version>|<kind>|<payload>`
//! on the session's channel, with the version the change produced. Pub/sub
//! can drop messages (a reconnect, a slow consumer), so a watcher never
//! trusts it alone: it subscribes, then reads a snapshot with its version,
//! then applies only the next version in sequence. A gap, a lagging local
//! queue or a Redis reconnect makes it read a fresh snapshot instead.
//!
//! [`EventHub`] keeps one Redis subscription per watched session per
//! process, shared by all local watchers, and drops it with the last one.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use attn_domain::{Record, SessionMeta};
use fred::{
    clients::SubscriberClient,
    interfaces::{EventInterface, PubsubInterface},
};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{Keys, StoreError, StoreResult, redis::RedisSettings};

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Record {
        version: u64,
        record: Record,
    },
    Session {
        version: u64,
        meta: SessionMeta,
    },
    /// The session was archived and removed from Redis.
    Archived {
        version: u64,
    },
}

impl SessionEvent {
    pub fn version(&self) -> u64 {
        match self {
            Self::Record { version, .. } | Self::Session { version, .. } | Self::Archived { version } => *version,
        }
    }

    pub fn parse(payload: &str) -> StoreResult<Self> {
        let corrupt = |detail: String| StoreError::corrupt("a session event", detail);
        let mut parts = payload.splitn(3, '|');
        let version = parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| corrupt("no version".into()))?;
        let kind = parts.next().ok_or_else(|| corrupt("no kind".into()))?;
        let body = parts.next().unwrap_or_default();
        Ok(match kind {
            "r" => Self::Record { version, record: Record::from_json(body).map_err(|err| corrupt(err.to_string()))? },
            "a" => {
                Self::Session { version, meta: SessionMeta::from_json(body).map_err(|err| corrupt(err.to_string()))? }
            }
            "x" => Self::Archived { version },
            other => return Err(corrupt(format!("unknown kind {other:?}"))),
        })
    }
}

/// What a watcher does with an event, given the last version it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already reflected in what the watcher has.
    Skip,
    /// The very next change: apply it.
    Apply,
    /// Something in between was lost: read a fresh snapshot.
    Resync,
}

pub fn next_step(last_applied: u64, event_version: u64) -> Step {
    if event_version <= last_applied {
        Step::Skip
    } else if event_version == last_applied + 1 {
        Step::Apply
    } else {
        Step::Resync
    }
}

/// What a local watcher receives.
#[derive(Debug, Clone)]
pub enum HubMessage {
    Event(Arc<SessionEvent>),
    /// Events may have been lost: read a snapshot before going on.
    Resync,
}

type Channels = Mutex<HashMap<String, broadcast::Sender<HubMessage>>>;

pub struct EventHub {
    client: SubscriberClient,
    keys: Keys,
    channels: Arc<Channels>,
    /// Serialises SUBSCRIBE/UNSUBSCRIBE so a late unsubscribe never undoes a
    /// newer subscribe to the same channel.
    changes: tokio::sync::Mutex<()>,
    watchers: AtomicUsize,
}

/// One watcher's feed. Dropping it releases the Redis subscription when no
/// other local watcher needs it.
pub struct Subscription {
    pub receiver: broadcast::Receiver<HubMessage>,
    channel: String,
    hub: Arc<EventHub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.watchers.fetch_sub(1, Ordering::Relaxed);
        let hub = self.hub.clone();
        let channel = std::mem::take(&mut self.channel);
        // Our receiver is still alive inside `self` until this returns, so
        // the release runs after, on the runtime.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { hub.release(&channel).await });
        }
    }
}

/// Local queue per session: enough for a burst of a whole lecture hall.
const LOCAL_QUEUE: usize = 4_096;

impl EventHub {
    pub async fn connect(settings: &RedisSettings, keys: Keys) -> StoreResult<Arc<Self>> {
        // Room for bursts (a lecture hall checking in at once) before the
        // dispatcher falls behind and has to ask every watcher to resync.
        let client = crate::redis::connect_subscriber(settings, 16_384).await?;
        let _resubscriber = client.manage_subscriptions();
        let hub = Arc::new(Self {
            client,
            keys,
            channels: Arc::default(),
            changes: tokio::sync::Mutex::new(()),
            watchers: AtomicUsize::new(0),
        });
        tokio::spawn(dispatch(hub.client.clone(), hub.channels.clone()));
        Ok(hub)
    }

    /// Watchers open right now, across all sessions.
    pub fn open_watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Sessions with a Redis subscription right now.
    pub fn subscribed_sessions(&self) -> usize {
        self.channels.lock().expect("hub lock").len()
    }

    /// Starts receiving a session's events. Returns once Redis confirmed the
    /// subscription, so a snapshot read afterwards misses nothing.
    pub async fn subscribe(self: &Arc<Self>, id: Uuid) -> StoreResult<Subscription> {
        let channel = self.keys.events(id);
        let _serial = self.changes.lock().await;
        let existing = self.channels.lock().expect("hub lock").get(&channel).map(broadcast::Sender::subscribe);
        let receiver = match existing {
            Some(receiver) => receiver,
            None => {
                self.client.subscribe(channel.clone()).await?;
                let (sender, receiver) = broadcast::channel(LOCAL_QUEUE);
                self.channels.lock().expect("hub lock").insert(channel.clone(), sender);
                receiver
            }
        };
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Ok(Subscription { receiver, channel, hub: self.clone() })
    }

    async fn release(&self, channel: &str) {
        let _serial = self.changes.lock().await;
        let unused = {
            let mut channels = self.channels.lock().expect("hub lock");
            let unused = channels.get(channel).is_some_and(|s| s.receiver_count() == 0);
            if unused {
                channels.remove(channel);
            }
            unused
        };
        if unused && let Err(err) = self.client.unsubscribe(channel.to_owned()).await {
            tracing::warn!(%channel, error = %err, "could not unsubscribe; Redis drops it on reconnect");
        }
    }
}

/// Routes Redis messages to local watchers; on a reconnect, or if this task
/// itself fell behind, tells every watcher to resync.
async fn dispatch(client: SubscriberClient, channels: Arc<Channels>) {
    let mut messages = client.message_rx();
    let mut reconnects = client.reconnect_rx();
    let resync_all = |channels: &Channels| {
        for sender in channels.lock().expect("hub lock").values() {
            let _ = sender.send(HubMessage::Resync);
        }
    };
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) => {
                    let payload = message.value.as_string().unwrap_or_default();
                    let sender = channels.lock().expect("hub lock").get(&*message.channel).cloned();
                    let Some(sender) = sender else { continue };
                    match SessionEvent::parse(&payload) {
                        Ok(event) => { let _ = sender.send(HubMessage::Event(Arc::new(event))); }
                        Err(err) => {
                            tracing::warn!(channel = %message.channel, error = %err, "unreadable session event");
                            let _ = sender.send(HubMessage::Resync);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "event dispatcher fell behind; resyncing watchers");
                    resync_all(&channels);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => resync_all(&channels),
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_by_kind() {
        let record = Record::attended("s1", "Ada", 5);
        let event = SessionEvent::parse(&format!("7|r|{}", record.to_json())).unwrap();
        assert_eq!(event, SessionEvent::Record { version: 7, record });
        assert_eq!(SessionEvent::parse("9|x|").unwrap(), SessionEvent::Archived { version: 9 });
    }

    #[test]
    fn only_the_next_version_is_applied_and_a_gap_forces_a_resync() {
        assert_eq!(next_step(5, 4), Step::Skip);
        assert_eq!(next_step(5, 5), Step::Skip);
        assert_eq!(next_step(5, 6), Step::Apply);
        assert_eq!(next_step(5, 8), Step::Resync);
    }

    #[test]
    fn broken_events_are_errors() {
        for bad in ["", "x|r|{}", "3|q|", "3|r|not json"] {
            assert!(SessionEvent::parse(bad).is_err(), "{bad}");
        }
    }
}
