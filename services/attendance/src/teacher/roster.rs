//! WatchRecords: a teacher's live roster, a snapshot and then every change,
//! until the session is archived (see `crate::streams` for the rest).

use std::sync::Arc;

use attn_domain::validate;
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

/// The full roster: a course session's enrolled students without a record
/// come as NOT_CHECKED_IN (ABSENT once it has ended); their check-ins then
/// arrive as record events like any other.
fn snapshot_message(snapshot: &Snapshot, now: i64) -> pb::WatchRecordsResponse {
    let id = snapshot.meta.attendance_id;
    let ended = !snapshot.meta.is_active(now);
    pb::WatchRecordsResponse {
        event: Some(Event::Snapshot(pb::RosterSnapshot {
            attendance: Some(convert::attendance(&snapshot.meta, now, false, Some(snapshot.records.len() as u64))),
            records: snapshot.roster().iter().map(|r| convert::roster_line(id, r, ended)).collect(),
        })),
    }
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
    let (first, version) = (snapshot_message(&snapshot, ctx.now_ms()), snapshot.version);
    let roster = Roster { ctx: ctx.clone(), id };
    let span = tracing::info_span!("watch_records stream", attendance_id = %id);
    streams::open(ctx, caller, "watch_records", STREAM_BUFFER, span, move |outbox| {
        streams::follow(roster, first, version, subscription, outbox)
    })
}

/// An archived session never changes by itself: one snapshot, then the end.
async fn archived_roster(ctx: &Context, teacher: &str, id: Uuid) -> ApiResult<BoxStream<pb::WatchRecordsResponse>> {
    let meta = ctx
        .archive
        .attendance(id)
        .await?
        .filter(|meta| meta.is_owned_by(teacher))
        .ok_or_else(|| no_such_session(id))?;
    let records = ctx.archive.records(id).await?;
    let count = records.len() as u64;
    let roster = attn_domain::record::with_absentees(records, ctx.archive.enrolled(id).await?);
    let message = pb::WatchRecordsResponse {
        event: Some(Event::Snapshot(pb::RosterSnapshot {
            attendance: Some(convert::attendance(&meta, ctx.now_ms(), true, Some(count))),
            records: roster.iter().map(|r| convert::roster_line(id, r, true)).collect(),
        })),
    };
    Ok(Box::pin(tokio_stream::once(Ok(message))))
}

/// One session's roster, as a stream follows it.
struct Roster {
    ctx: Arc<Context>,
    id: Uuid,
}

impl Roster {
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

impl Feed for Roster {
    type Message = pb::WatchRecordsResponse;

    async fn resync(&mut self) -> Next<Self::Message> {
        let now = self.ctx.now_ms();
        match self.ctx.live.snapshot(self.id).await {
            Ok(Some(snapshot)) => {
                Next::Resynced { version: snapshot.version, message: snapshot_message(&snapshot, now) }
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
