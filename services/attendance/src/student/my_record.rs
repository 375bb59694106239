//! WatchMyRecord: a student's own record in one session, sent on every
//! change until it is final (see `crate::streams` for the rest).

use std::sync::Arc;

use attn_domain::{Record, validate};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::events::SessionEvent;
use uuid::Uuid;

use crate::{
    context::Context,
    convert,
    streams::{self, BoxStream, Feed, Next},
};

/// A record changes a handful of times at most, so the client is rarely behind.
const STREAM_BUFFER: usize = 8;

pub async fn watch(
    ctx: &Arc<Context>,
    caller: &Caller,
    attendance_id: &str,
) -> ApiResult<BoxStream<pb::WatchMyRecordResponse>> {
    let id = validate::attendance_id(attendance_id)?;
    let student = caller.school_number().to_owned();
    let subscription = ctx.hub.subscribe(id).await?;
    let live = ctx.live.record_with_version(id, &student).await?;
    let Some((version, Some(record))) = live else {
        drop(subscription);
        let record = ctx.archive.record(id, &student).await?.ok_or_else(|| {
            ApiError::new(Reason::RecordNotFound, format!("you have no record in attendance session {id}"))
                .with("attendance_id", id)
        })?;
        return Ok(Box::pin(tokio_stream::once(Ok(message(id, &record)))));
    };
    let first = message(id, &record);
    if record.is_final() {
        return Ok(Box::pin(tokio_stream::once(Ok(first))));
    }
    let mine = MyRecord { ctx: ctx.clone(), id, student };
    let span = tracing::info_span!("watch_my_record stream", attendance_id = %id);
    streams::open(ctx, caller, "watch_my_record", STREAM_BUFFER, span, move |outbox| {
        streams::follow(mine, first, version, subscription, outbox)
    })
}

fn message(id: Uuid, record: &Record) -> pb::WatchMyRecordResponse {
    pb::WatchMyRecordResponse { record: Some(convert::record(id, record)) }
}

/// One student's record in one session, as a stream follows it.
struct MyRecord {
    ctx: Arc<Context>,
    id: Uuid,
    student: String,
}

impl MyRecord {
    /// Sends the record; a final record is the stream's last message.
    fn next(&self, record: &Record) -> Next<pb::WatchMyRecordResponse> {
        let message = message(self.id, record);
        if record.is_final() { Next::Last(Ok(message)) } else { Next::Send(message) }
    }
}

impl Feed for MyRecord {
    type Message = pb::WatchMyRecordResponse;

    async fn resync(&mut self) -> Next<Self::Message> {
        match self.ctx.live.record_with_version(self.id, &self.student).await {
            Ok(Some((version, Some(record)))) => {
                let message = message(self.id, &record);
                if record.is_final() { Next::Last(Ok(message)) } else { Next::Resynced { version, message } }
            }
            // Archived (or removed) meanwhile: the archive has the final word.
            Ok(_) => match self.ctx.archive.record(self.id, &self.student).await {
                Ok(Some(record)) => Next::Last(Ok(message(self.id, &record))),
                _ => Next::End,
            },
            Err(err) => Next::Last(Err(ApiError::from(err).into())),
        }
    }

    async fn apply(&mut self, event: &SessionEvent) -> Next<Self::Message> {
        match event {
            SessionEvent::Record { record, .. } if record.student_number == self.student => self.next(record),
            SessionEvent::Archived { .. } => match self.ctx.archive.record(self.id, &self.student).await {
                Ok(Some(record)) => Next::Last(Ok(message(self.id, &record))),
                Ok(None) => Next::End,
                Err(err) => Next::Last(Err(ApiError::from(err).into())),
            },
            _ => Next::Skip,
        }
    }
}
