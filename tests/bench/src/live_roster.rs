//! Scenario 4: a teacher watching `WatchRecords` while the storm runs.
//!
//! Each student's `Attend` reply time and the moment their record event
//! reaches the teacher are stamped on one clock (nanoseconds since the
//! storm's start); the delay is the difference. An event may beat the reply
//! (the change is published before the reply is sent): that counts as no
//! delay. A record that only reaches the teacher inside a catch-up snapshot
//! counts as delivered (by resync), one that never arrives as missed.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use attn_proto::v1::{
    WatchRecordsRequest, teacher_service_client::TeacherServiceClient, watch_records_response::Event,
};
use serde::Serialize;
use tokio::{sync::watch, task::JoinHandle};
use tonic::transport::Channel;

use crate::{
    clients::{Token, authed},
    stats::Percentiles,
};

/// Nanoseconds since `base`, plus one, so that 0 can mean "not yet".
pub fn stamp(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64 + 1
}

struct Seen {
    base: Instant,
    index: Arc<HashMap<String, usize>>,
    at: Vec<AtomicU64>,
    via_snapshot: Vec<AtomicBool>,
    delivered: watch::Sender<usize>,
    resyncs: AtomicU64,
}

impl Seen {
    fn mark(&self, student: &str, by_snapshot: bool) {
        let Some(&i) = self.index.get(student) else { return };
        let Some(slot) = self.at.get(i) else { return };
        if slot.compare_exchange(0, stamp(self.base), Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.via_snapshot[i].store(by_snapshot, Ordering::Release);
            self.delivered.send_modify(|n| *n += 1);
        }
    }
}

pub struct Watcher {
    seen: Arc<Seen>,
    /// Ends with how the stream ended, if it ended.
    task: Option<JoinHandle<Option<String>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RosterFigures {
    /// Students whose check-in was written (and so must reach the teacher).
    pub expected: usize,
    pub delivered: usize,
    pub missed: usize,
    /// Catch-up snapshots the stream sent after the first.
    pub resyncs: u64,
    pub delivered_by_resync: usize,
    /// Events that reached the teacher before the student had the reply.
    pub before_reply: usize,
    pub delay: Percentiles,
    /// How the stream ended early, if it did.
    pub stream_error: Option<String>,
}

impl Watcher {
    /// Opens the stream and waits for its first snapshot, so the watch is
    /// in place before the first check-in.
    pub async fn start(
        channel: Channel,
        token: &Token,
        attendance_id: &str,
        index: Arc<HashMap<String, usize>>,
        students: usize,
        base: Instant,
    ) -> anyhow::Result<Self> {
        let mut stream = TeacherServiceClient::new(channel)
            .watch_records(authed(WatchRecordsRequest { attendance_id: attendance_id.to_owned() }, token))
            .await
            .context("WatchRecords refused")?
            .into_inner();
        let first = stream.message().await.context("WatchRecords failed before its snapshot")?;
        if !matches!(first.and_then(|m| m.event), Some(Event::Snapshot(_))) {
            bail!("WatchRecords did not start with a snapshot");
        }
        let seen = Arc::new(Seen {
            base,
            index,
            at: (0..students).map(|_| AtomicU64::new(0)).collect(),
            via_snapshot: (0..students).map(|_| AtomicBool::new(false)).collect(),
            delivered: watch::Sender::new(0),
            resyncs: AtomicU64::new(0),
        });
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    match stream.message().await {
                        Ok(Some(message)) => match message.event {
                            Some(Event::Record(record)) => seen.mark(&record.student_number, false),
                            Some(Event::Snapshot(snapshot)) => {
                                seen.resyncs.fetch_add(1, Ordering::Relaxed);
                                for record in &snapshot.records {
                                    seen.mark(&record.student_number, true);
                                }
                            }
                            Some(Event::Attendance(_)) | None => {}
                        },
                        Ok(None) => return Some("the stream ended".to_owned()),
                        Err(status) => return Some(format!("{:?}: {}", status.code(), status.message())),
                    }
                }
            })
        };
        Ok(Self { seen, task: Some(task) })
    }

    /// Waits (up to `grace`) for every written check-in to reach the
    /// teacher, then stops watching and works out the delays.
    pub async fn finish(mut self, replied: &[AtomicU64], grace: Duration) -> RosterFigures {
        let expected = replied.iter().filter(|r| r.load(Ordering::Acquire) > 0).count();
        let mut delivered = self.seen.delivered.subscribe();
        let _ = tokio::time::timeout(grace, delivered.wait_for(|n| *n >= expected)).await;
        let stream_error = match self.task.take() {
            Some(task) if task.is_finished() => task.await.ok().flatten(),
            Some(task) => {
                task.abort();
                None
            }
            None => None,
        };
        let seen = &self.seen;
        let (mut delays, mut missed, mut by_resync, mut before_reply) = (Vec::new(), 0, 0, 0);
        for (i, reply) in replied.iter().enumerate() {
            let reply = reply.load(Ordering::Acquire);
            if reply == 0 {
                continue;
            }
            let at = seen.at[i].load(Ordering::Acquire);
            if at == 0 {
                missed += 1;
                continue;
            }
            if seen.via_snapshot[i].load(Ordering::Acquire) {
                by_resync += 1;
            }
            if at < reply {
                before_reply += 1;
            }
            delays.push(at.saturating_sub(reply) as f64 / 1e6);
        }
        RosterFigures {
            expected,
            delivered: expected - missed,
            missed,
            resyncs: seen.resyncs.load(Ordering::Relaxed),
            delivered_by_resync: by_resync,
            before_reply,
            delay: Percentiles::of(delays),
            stream_error,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
