//! Finding sessions, and a student's own records.

use attn_domain::{
    Record, SessionMeta,
    paging::{self, Cursor},
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller};

use crate::{
    context::{Context, now_ms},
    convert,
};

const SEARCH_MAX_CHARS: usize = 200;
const SEARCH_MAX_RESULTS: usize = 50;

fn search_term(field: &'static str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.chars().count() > SEARCH_MAX_CHARS {
        return Err(attn_domain::Invalid::new(field, format!("must be at most {SEARCH_MAX_CHARS} characters")).into());
    }
    Ok(value.to_owned())
}

pub async fn find_active(ctx: &Context, lesson_name: &str, teacher_name: &str) -> ApiResult<Vec<pb::Attendance>> {
    let lesson = search_term("lesson_name", lesson_name)?;
    let teacher = search_term("teacher_name", teacher_name)?;
    if lesson.is_empty() && teacher.is_empty() {
        return Err(
            attn_domain::Invalid::new("lesson_name", "give a lesson name or a teacher name to search for").into()
        );
    }
    let now = now_ms();
    let mut found: Vec<SessionMeta> = ctx
        .live
        .listed_open_sessions()
        .await?
        .into_iter()
        .filter(|meta| meta.is_active(now) && meta.matches_search(&lesson, &teacher))
        .collect();
    found.sort_by_key(|meta| std::cmp::Reverse(meta.start_ms));
    found.truncate(SEARCH_MAX_RESULTS);
    Ok(found.iter().map(|meta| convert::attendance_for_student(meta, now, false)).collect())
}

pub async fn my_record(ctx: &Context, caller: &Caller, attendance_id: &str) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(attendance_id)?;
    let student = caller.school_number();
    if let Some((record, _)) = ctx.live.record(id, student).await? {
        return Ok(convert::record(id, &record));
    }
    ctx.archive
        .record(id, student)
        .await?
        .map(|record| convert::record(id, &record))
        .ok_or_else(|| ApiError::not_found(format!("you have no record in attendance session {id}")))
}

/// The student's records, newest session first: live ones merged with the archive.
pub async fn list_mine(
    ctx: &Context,
    caller: &Caller,
    page: pb::PageRequest,
) -> ApiResult<pb::ListMyAttendanceResponse> {
    let size = paging::page_size(page.page_size)?;
    let cursor = paging::decode_cursor(&page.page_token)?;
    let student = caller.school_number();
    let now = now_ms();

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
