//! ExportSessionRecords: a session's roster as CSV, in chunks.

use attn_domain::{
    export::{ExportedSession, SESSION_RECORDS_HEADER, csv_chunks, session_record_row},
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use super::no_such_session;
use crate::{
    context::Context,
    streams::{BoxStream, file_stream},
};

pub async fn session_records(
    ctx: &Context,
    caller: &Caller,
    attendance_id: &str,
) -> ApiResult<BoxStream<pb::ExportSessionRecordsResponse>> {
    let id = validate::attendance_id(attendance_id)?;
    let (meta, roster, ended) = match ctx.live.snapshot(id).await? {
        Some(snapshot) if !snapshot.meta.is_owned_by(caller.school_number()) => return Err(no_such_session(id)),
        Some(snapshot) => {
            let ended = !snapshot.meta.is_active(ctx.now_ms());
            (snapshot.meta.clone(), snapshot.roster(), ended)
        }
        None => {
            let meta = ctx
                .archive
                .attendance(id)
                .await?
                .filter(|meta| meta.is_owned_by(caller.school_number()))
                .ok_or_else(|| no_such_session(id))?;
            (meta, ctx.archive.roster(id).await?, true)
        }
    };
    // One session's roster is bounded by its class: it is read whole (by
    // student number, absentees included), and sent in chunks as a file of
    // any size would be.
    let session = ExportedSession { ended, time_zone: meta.time_zone.as_deref() };
    let rows = roster.iter().map(|record| session_record_row(session, record));
    let chunks = csv_chunks(&SESSION_RECORDS_HEADER, rows);
    Ok(file_stream(chunks, |csv| pb::ExportSessionRecordsResponse { csv }))
}
