//! The two server streams: a teacher's live roster and a student's own record.
//!
//! Each stream subscribes to the session's events first, then reads a
//! snapshot, then applies events strictly in version order (see
//! `attn_store::events`). It ends when the session is archived, when the
//! client goes away (its resources are released at once, not at the next
//! event), when the server shuts down (with UNAVAILABLE, so clients
//! reconnect to another replica), or when the sign-in it was opened with
//! ends (with UNAUTHENTICATED; see `streams.rs`).

use std::{pin::Pin, sync::Arc};

use attn_domain::validate;
use attn_proto::v1::{self as pb, watch_records_response::Event};
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::{
    events::{HubMessage, SessionEvent, Step, Subscription, next_step},
    live::Snapshot,
};
use futures::Stream;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{context::Context, convert, streams::SignInWatch, teacher::no_such_session};

type Outbox<T> = mpsc::Sender<Result<T, Status>>;
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Messages a slow client may fall behind by before the stream resyncs it.
const STREAM_BUFFER: usize = 256;

fn snapshot_message(snapshot: &Snapshot, now: i64) -> pb::WatchRecordsResponse {
    let id = snapshot.meta.attendance_id;
    pb::WatchRecordsResponse {
        event: Some(Event::Snapshot(pb::RosterSnapshot {
            attendance: Some(convert::attendance(&snapshot.meta, now, false, Some(snapshot.records.len() as u64))),
            records: snapshot.records.iter().map(|r| convert::record(id, r)).collect(),
        })),
    }
}

/// A slot among the caller's open streams and a watch on their sign-in,
/// for a stream about to start.
pub(crate) fn sign_in_watch(ctx: &Context, caller: &Caller) -> ApiResult<SignInWatch> {
    let slot = ctx.streams.take(caller.school_number())?;
    Ok(SignInWatch::new(caller, &ctx.revocations, ctx.tokens.clone(), ctx.clock.clone(), slot))
}

pub(crate) fn shutting_down() -> Status {
    ApiError::new(Reason::ShuttingDown, "ATTN is restarting; reconnect to continue").into()
}

pub async fn watch_roster(
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
    let sign_in = sign_in_watch(ctx, caller)?;
    let (outbox, receiver) = mpsc::channel(STREAM_BUFFER);
    // The stream outlives the RPC's span; its own span, a child of it, keeps
    // its log lines (and trace) tied to the call that opened it.
    let span = tracing::info_span!("watch_records stream", attendance_id = %id);
    tokio::spawn(follow_roster(ctx.clone(), snapshot, subscription, sign_in, outbox).instrument(span));
    Ok(counted(ReceiverStream::new(receiver), crate::measures::OpenStream::new(&ctx.metrics, "watch_records")))
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
    let message = pb::WatchRecordsResponse {
        event: Some(Event::Snapshot(pb::RosterSnapshot {
            attendance: Some(convert::attendance(&meta, ctx.now_ms(), true, Some(records.len() as u64))),
            records: records.iter().map(|r| convert::record(id, r)).collect(),
        })),
    };
    Ok(Box::pin(tokio_stream::once(Ok(message))))
}

async fn follow_roster(
    ctx: Arc<Context>,
    snapshot: Snapshot,
    mut subscription: Subscription,
    mut sign_in: SignInWatch,
    outbox: Outbox<pb::WatchRecordsResponse>,
) {
    let id = snapshot.meta.attendance_id;
    let mut last = snapshot.version;
    if outbox.send(Ok(snapshot_message(&snapshot, ctx.now_ms()))).await.is_err() {
        return;
    }
    loop {
        let message = tokio::select! {
            () = outbox.closed() => return,
            () = ctx.shutdown.triggered() => {
                let _ = outbox.send(Err(shutting_down())).await;
                return;
            }
            status = sign_in.ended() => {
                let _ = outbox.send(Err(status)).await;
                return;
            }
            message = subscription.receiver.recv() => message,
        };
        let event = match message {
            Ok(HubMessage::Event(event)) => event,
            Ok(HubMessage::Resync) | Err(RecvError::Lagged(_)) => {
                match resync_roster(&ctx, id, &outbox).await {
                    Some(version) => last = version,
                    None => return,
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        match next_step(last, event.version()) {
            Step::Skip => continue,
            Step::Resync => {
                match resync_roster(&ctx, id, &outbox).await {
                    Some(version) => last = version,
                    None => return,
                }
                continue;
            }
            Step::Apply => last = event.version(),
        }
        let now = ctx.now_ms();
        let (message, archived) = match &*event {
            SessionEvent::Record { record, .. } => (Event::Record(convert::record(id, record)), false),
            SessionEvent::Session { meta, .. } => {
                (Event::Attendance(convert::attendance(meta, now, false, None)), false)
            }
            SessionEvent::Archived { .. } => match archived_attendance(&ctx, id, now).await {
                Ok(attendance) => (Event::Attendance(attendance), true),
                Err(err) => {
                    let _ = outbox.send(Err(err.into())).await;
                    return;
                }
            },
        };
        if outbox.send(Ok(pb::WatchRecordsResponse { event: Some(message) })).await.is_err() || archived {
            return;
        }
    }
}

/// Sends a fresh snapshot; returns its version, or None when the stream is over.
async fn resync_roster(ctx: &Context, id: Uuid, outbox: &Outbox<pb::WatchRecordsResponse>) -> Option<u64> {
    let now = ctx.now_ms();
    match ctx.live.snapshot(id).await {
        Ok(Some(snapshot)) => {
            outbox.send(Ok(snapshot_message(&snapshot, now))).await.ok()?;
            Some(snapshot.version)
        }
        Ok(None) => {
            // Archived while we were catching up.
            let last = match archived_attendance(ctx, id, now).await {
                Ok(attendance) => Ok(pb::WatchRecordsResponse { event: Some(Event::Attendance(attendance)) }),
                Err(err) => Err(err.into()),
            };
            let _ = outbox.send(last).await;
            None
        }
        Err(err) => {
            let _ = outbox.send(Err(ApiError::from(err).into())).await;
            None
        }
    }
}

async fn archived_attendance(ctx: &Context, id: Uuid, now: i64) -> ApiResult<pb::Attendance> {
    let meta = ctx.archive.attendance(id).await?.ok_or_else(|| {
        ApiError::new(Reason::SessionNotFound, format!("attendance session {id} is gone")).with("attendance_id", id)
    })?;
    Ok(convert::attendance(&meta, now, true, None))
}

// === a student's own record ===

pub async fn watch_my_record(
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
        let message = pb::WatchMyRecordResponse { record: Some(convert::record(id, &record)) };
        return Ok(Box::pin(tokio_stream::once(Ok(message))));
    };
    let (outbox, receiver) = mpsc::channel(8);
    let first = pb::WatchMyRecordResponse { record: Some(convert::record(id, &record)) };
    if record.is_final() {
        return Ok(Box::pin(tokio_stream::once(Ok(first))));
    }
    let sign_in = sign_in_watch(ctx, caller)?;
    let open = crate::measures::OpenStream::new(&ctx.metrics, "watch_my_record");
    let ctx = ctx.clone();
    let span = tracing::info_span!("watch_my_record stream", attendance_id = %id);
    tokio::spawn(
        async move {
            if outbox.send(Ok(first)).await.is_ok() {
                follow_my_record(ctx, id, student, version, subscription, sign_in, outbox).await;
            }
        }
        .instrument(span),
    );
    Ok(counted(ReceiverStream::new(receiver), open))
}

/// Sends the student's record on every change until it is final.
async fn follow_my_record(
    ctx: Arc<Context>,
    id: Uuid,
    student: String,
    mut last: u64,
    mut subscription: Subscription,
    mut sign_in: SignInWatch,
    outbox: Outbox<pb::WatchMyRecordResponse>,
) {
    let send = |record: &attn_domain::Record| pb::WatchMyRecordResponse { record: Some(convert::record(id, record)) };
    loop {
        let message = tokio::select! {
            () = outbox.closed() => return,
            () = ctx.shutdown.triggered() => {
                let _ = outbox.send(Err(shutting_down())).await;
                return;
            }
            status = sign_in.ended() => {
                let _ = outbox.send(Err(status)).await;
                return;
            }
            message = subscription.receiver.recv() => message,
        };
        let step = match &message {
            Ok(HubMessage::Event(event)) => next_step(last, event.version()),
            Ok(HubMessage::Resync) | Err(RecvError::Lagged(_)) => Step::Resync,
            Err(RecvError::Closed) => return,
        };
        let record = match (step, message) {
            (Step::Skip, _) => continue,
            (Step::Apply, Ok(HubMessage::Event(event))) => {
                last = event.version();
                match &*event {
                    SessionEvent::Record { record, .. } if record.student_number == student => record.clone(),
                    SessionEvent::Archived { .. } => match ctx.archive.record(id, &student).await {
                        Ok(Some(record)) => {
                            let _ = outbox.send(Ok(send(&record))).await;
                            return;
                        }
                        Ok(None) => return,
                        Err(err) => {
                            let _ = outbox.send(Err(ApiError::from(err).into())).await;
                            return;
                        }
                    },
                    _ => continue,
                }
            }
            _ => match ctx.live.record_with_version(id, &student).await {
                Ok(Some((version, Some(record)))) => {
                    last = version;
                    record
                }
                // Archived (or removed) meanwhile: the archive has the final word.
                Ok(_) => match ctx.archive.record(id, &student).await {
                    Ok(Some(record)) => {
                        let _ = outbox.send(Ok(send(&record))).await;
                        return;
                    }
                    _ => return,
                },
                Err(err) => {
                    let _ = outbox.send(Err(ApiError::from(err).into())).await;
                    return;
                }
            },
        };
        if outbox.send(Ok(send(&record))).await.is_err() || record.is_final() {
            return;
        }
    }
}

/// `stream`, counted in `attn_streams_open` until the client's side of it is dropped.
pub(crate) fn counted<T: Send + 'static>(
    stream: ReceiverStream<Result<T, Status>>,
    open: crate::measures::OpenStream,
) -> BoxStream<T> {
    use futures::StreamExt as _;
    Box::pin(stream.map(move |item| {
        let _held = &open;
        item
    }))
}
