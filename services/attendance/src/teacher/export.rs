//! ExportSessionRecords: a session's roster as CSV, in chunks.

use attn_domain::{
    export::{SESSION_RECORDS_HEADER, csv_chunks, session_record_row},
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
    let mut records = match ctx.live.snapshot(id).await? {
        Some(snapshot) if !snapshot.meta.is_owned_by(caller.school_number()) => return Err(no_such_session(id)),
        Some(snapshot) => snapshot.records,
        None => {
            let owned = ctx.archive.attendance(id).await?.is_some_and(|meta| meta.is_owned_by(caller.school_number()));
            if !owned {
                return Err(no_such_session(id));
            }
            ctx.archive.records(id).await?
        }
    };
    // One session's roster is bounded by its class: it is read whole, and
    // sent in chunks as a file of any size would be.
    records.sort_by(|a, b| a.student_number.cmp(&b.student_number));
    let chunks = csv_chunks(&SESSION_RECORDS_HEADER, records.iter().map(session_record_row));
    Ok(file_stream(chunks, |csv| pb::ExportSessionRecordsResponse { csv }))
}
