//! ExportSessionRecords: a session's roster as CSV, in chunks.

use attn_domain::{
    export::{ExportedSession, SESSION_RECORDS_HEADER, csv_chunks, session_record_row},
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use super::roster;
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
    let session = roster::read(ctx, caller, id).await?;
    // One session's roster is bounded by its class: it is read whole (by
    // student number, absentees included), and sent in chunks as a file of
    // any size would be.
    let exported = ExportedSession { ended: session.ended(ctx.now_ms()), time_zone: session.meta.time_zone.as_deref() };
    let rows = session.roster.lines.iter().map(|record| session_record_row(exported, record));
    let chunks = csv_chunks(&SESSION_RECORDS_HEADER, rows);
    Ok(file_stream(chunks, |csv| pb::ExportSessionRecordsResponse { csv }))
}
