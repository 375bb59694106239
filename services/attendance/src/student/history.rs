//! Finding sessions, and a student's own records.

use attn_domain::{
    Record, SessionMeta,
    paging::{self, Cursor},
    search::{Query, SearchCursor},
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason};

use crate::{context::Context, convert};

/// One page of the open sessions matching the student's search, from this
/// replica's copy (no Redis round trip).
pub fn find_active(
    ctx: &Context,
    request: pb::FindActiveAttendancesRequest,
) -> ApiResult<pb::FindActiveAttendancesResponse> {
    let query = Query::new(&request.lesson_name, &request.teacher_name)?;
    let size = paging::page_size(request.page_size)?;
    let after = SearchCursor::decode(&request.page_token)?;
    let now = ctx.now_ms();
    let found = ctx.open_sessions.search(&query, after, size as usize, now)?;
    Ok(pb::FindActiveAttendancesResponse {
        attendances: found.sessions.iter().map(|meta| convert::attendance_for_student(meta, now, false)).collect(),
        next_page_token: found.next.map(|next| next.encode()).unwrap_or_default(),
    })
}

pub async fn my_record(ctx: &Context, caller: &Caller, attendance_id: &str) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(attendance_id)?;
    let student = caller.school_number();
    if let Some((record, _)) = ctx.live.record(id, student).await? {
        return Ok(convert::record(id, &record));
    }
    ctx.archive.record(id, student).await?.map(|record| convert::record(id, &record)).ok_or_else(|| {
        ApiError::new(Reason::RecordNotFound, format!("you have no record in attendance session {id}"))
            .with("attendance_id", id)
    })
}

/// The student's records, newest session first: live ones merged with the archive.
pub async fn list_mine(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListMyAttendanceRequest,
) -> ApiResult<pb::ListMyAttendanceResponse> {
    let size = paging::page_size(request.page_size)?;
    let cursor = paging::decode_cursor(&request.page_token)?;
    let student = caller.school_number();
    let now = ctx.now_ms();

    let mut items: Vec<(Cursor, SessionMeta, Record, bool)> = Vec::new();
    let live = ctx.live.student_records(student).await?;
    for (session, record) in live {
        let meta = session.meta;
        if paging::is_after(cursor, meta.start_ms, meta.attendance_id) {
            items.push((Cursor { time_ms: meta.start_ms, id: meta.attendance_id }, meta, record, false));
        }
    }
    let archived = ctx.archive.student_history(student, cursor, size).await?;
    let archive_full = archived.len() == size as usize;
    for (meta, record) in archived {
        if items.iter().any(|(_, live, _, _)| live.attendance_id == meta.attendance_id) {
            continue;
        }
        items.push((Cursor { time_ms: meta.start_ms, id: meta.attendance_id }, meta, record, true));
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    let more = items.len() > size as usize || archive_full;
    items.truncate(size as usize);
    let next_page_token = match items.last() {
        Some((last, ..)) if more => paging::encode_cursor(*last),
        _ => String::new(),
    };
    Ok(pb::ListMyAttendanceResponse {
        entries: items
            .into_iter()
            .map(|(_, meta, record, archived)| pb::list_my_attendance_response::Entry {
                attendance: Some(convert::attendance_for_student(&meta, now, archived)),
                record: Some(convert::record(meta.attendance_id, &record)),
            })
            .collect(),
        next_page_token,
    })
}
