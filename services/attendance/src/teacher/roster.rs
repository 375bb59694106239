//! A session's roster as its owner reads it (ListRecords,
//! ExportSessionRecords), and WatchRecords: a teacher's live roster, a
//! snapshot and then every change, until the session is archived (see
//! `crate::streams` for the rest).

use std::sync::Arc;

use attn_domain::{Roster, SessionMeta, validate};
use attn_proto::v1::{self as pb, watch_records_response::Event};
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::{events::SessionEvent, live::Snapshot};
use uuid::Uuid;

use super::no_such_session;
use crate::{
    context::Context,
    convert,
    streams::{self, BoxStream, Feed, Next},
};

/// Messages a slow client may fall behind by before the stream resyncs it.
const STREAM_BUFFER: usize = 256;

/// A session and its full roster, live or archived: a course session's
/// enrolled students without a record are NOT_CHECKED_IN lines (ABSENT
/// once it has ended); their check-ins replace them like any record.
pub(super) struct SessionRoster {
    pub meta: SessionMeta,
    pub archived: bool,
    pub roster: Roster,
}

impl SessionRoster {
    fn live(snapshot: Snapshot) -> Self {
        Self { meta: snapshot.meta, archived: false, roster: Roster::new(snapshot.records, snapshot.enrolled) }
    }

    pub fn ended(&self, now: i64) -> bool {
        self.archived || !self.meta.is_active(now)
    }

    pub fn attendance(&self, now: i64) -> pb::Attendance {
        convert::attendance(&self.meta, now, self.archived, Some(self.roster.record_count as u64))
    }

    pub fn lines(&self, now: i64) -> Vec<pb::AttendanceRecord> {
        let (id, ended) = (self.meta.attendance_id, self.ended(now));
        self.roster.lines.iter().map(|r| convert::roster_line(id, r, ended)).collect()
    }

    fn snapshot_message(&self, now: i64) -> pb::WatchRecordsResponse {
        pb::WatchRecordsResponse {
            event: Some(Event::Snapshot(pb::RosterSnapshot {
                attendance: Some(self.attendance(now)),
                records: self.lines(now),
            })),
        }
    }
}

/// The caller's session's roster, wherever the session is; anyone else's
/// reads as no session.
pub(super) async fn read(ctx: &Context, caller: &Caller, id: Uuid) -> ApiResult<SessionRoster> {
    let Some(snapshot) = ctx.live.snapshot(id).await? else {
        return archived(ctx, caller.school_number(), id).await;
    };
    if !snapshot.meta.is_owned_by(caller.school_number()) {
        return Err(no_such_session(id));
    }
    for (student, why) in &snapshot.malformed {
        tracing::error!(attendance_id = %id, %student, %why, "unreadable record left out of the roster");
    }
    Ok(SessionRoster::live(snapshot))
}

async fn archived(ctx: &Context, teacher: &str, id: Uuid) -> ApiResult<SessionRoster> {
    let meta = ctx
        .archive
        .attendance(id)
        .await?
        .filter(|meta| meta.is_owned_by(teacher))
        .ok_or_else(|| no_such_session(id))?;
    Ok(SessionRoster { meta, archived: true, roster: ctx.archive.roster(id).await? })
}

pub async fn watch(
    ctx: &Arc<Context>,
    caller: &Caller,
    attendance_id: &str,
) -> ApiResult<BoxStream<pb::WatchRecordsResponse>> {
    let id = validate::attendance_id(attendance_id)?;
    let teacher = caller.school_number();
    let subscription = ctx.hub.subscribe(id).await?;
    let Some(snapshot) = ctx.live.snapshot(id).await? else {
        drop(subscription);
        return archived_roster(ctx, teacher, id).await;
    };
    if !snapshot.meta.is_owned_by(teacher) {
        return Err(no_such_session(id));
    }
    let version = snapshot.version;
    let first = SessionRoster::live(snapshot).snapshot_message(ctx.now_ms());
    let feed = RosterFeed { ctx: ctx.clone(), id };
    let span = tracing::info_span!("watch_records stream", attendance_id = %id);
    streams::open(ctx, caller, "watch_records", STREAM_BUFFER, span, move |outbox| {
        streams::follow(feed, first, version, subscription, outbox)
    })
}

/// An archived session never changes by itself: one snapshot, then the end.
async fn archived_roster(ctx: &Context, teacher: &str, id: Uuid) -> ApiResult<BoxStream<pb::WatchRecordsResponse>> {
    let message = archived(ctx, teacher, id).await?.snapshot_message(ctx.now_ms());
    Ok(Box::pin(tokio_stream::once(Ok(message))))
}

/// One session's roster, as a stream follows it.
struct RosterFeed {
    ctx: Arc<Context>,
    id: Uuid,
}

impl RosterFeed {
    /// The session's archived view: the stream's last message.
    async fn archived(&self, now: i64) -> Next<pb::WatchRecordsResponse> {
        Next::Last(match archived_attendance(&self.ctx, self.id, now).await {
            Ok(attendance) => Ok(pb::WatchRecordsResponse { event: Some(Event::Attendance(attendance)) }),
            Err(err) => Err(err.into()),
        })
    }
}

async fn archived_attendance(ctx: &Context, id: Uuid, now: i64) -> ApiResult<pb::Attendance> {
    let meta = ctx.archive.attendance(id).await?.ok_or_else(|| {
        ApiError::new(Reason::SessionNotFound, format!("attendance session {id} is gone")).with("attendance_id", id)
    })?;
    Ok(convert::attendance(&meta, now, true, None))
}

impl Feed for RosterFeed {
    type Message = pb::WatchRecordsResponse;

    async fn resync(&mut self) -> Next<Self::Message> {
        let now = self.ctx.now_ms();
        match self.ctx.live.snapshot(self.id).await {
            Ok(Some(snapshot)) => {
                let version = snapshot.version;
                Next::Resynced { version, message: SessionRoster::live(snapshot).snapshot_message(now) }
            }
            // Archived while we were catching up.
            Ok(None) => self.archived(now).await,
            Err(err) => Next::Last(Err(ApiError::from(err).into())),
        }
    }

    async fn apply(&mut self, event: &SessionEvent) -> Next<Self::Message> {
        let now = self.ctx.now_ms();
        let event = match event {
            SessionEvent::Record { record, .. } => Event::Record(convert::record(self.id, record)),
            SessionEvent::Session { meta, .. } => Event::Attendance(convert::attendance(meta, now, false, None)),
            SessionEvent::Archived { .. } => return self.archived(now).await,
        };
        Next::Send(pb::WatchRecordsResponse { event: Some(event) })
    }
}
